"""Image lifecycle automation for Azure Compute Gallery: replicate, tag, retire and rebake image versions."""

__version__ = "0.1.0"
