"""Custom checkov checks for the Bicep in infra/ (loaded with --external-checks-dir)."""
