"""The Functions worker environment the app runs in: is the loaded azure-functions new enough?

The Event Grid trigger hands CloudEvents 1.0 deliveries over as `azure.functions.CloudEvent`, which exists
from azure-functions 1.25 (1.25.0b4; Azure/azure-functions-python-library PR #314). On Python 3.10-3.12 the
worker imports its own bundled azure-functions (1.24.0 in some worker releases) instead of the app's pinned
one unless the app setting PYTHON_ISOLATE_WORKER_DEPENDENCIES=1 is set (Azure/azure-functions-python-
worker#1642). Checked once when the app is indexed, with what is already imported: no extra import.
"""

from __future__ import annotations

import logging
import re
from types import ModuleType

log = logging.getLogger(__name__)

SETTING = "PYTHON_ISOLATE_WORKER_DEPENDENCIES"
MINIMUM = (1, 25)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:2])


def functions_library_problem(functions: ModuleType) -> str | None:
    """Why the loaded azure-functions cannot take CloudEvents deliveries, or None when it can."""
    version = str(getattr(functions, "__version__", "") or "unknown")
    known = _version(version) if version != "unknown" else ()
    if hasattr(functions, "CloudEvent") and (not known or known >= MINIMUM):
        return None
    return (
        f"the worker loaded azure-functions {version}, which has no CloudEvent support (needs >= "
        f"{'.'.join(map(str, MINIMUM))}): CloudEvents deliveries of the Event Grid trigger fail. Set the app "
        f"setting {SETTING}=1 so the worker loads the app's own azure-functions from requirements.txt"
    )


def check_functions_library(functions: ModuleType) -> bool:
    """Log an error naming the setting when the loaded azure-functions is too old; True when it is fine."""
    problem = functions_library_problem(functions)
    if problem is not None:
        log.error(problem, extra={"setting": SETTING, "version": getattr(functions, "__version__", None)})
    return problem is None
