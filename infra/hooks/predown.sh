#!/bin/sh
# azd predown hook: removes what the deployment placed outside the app's resource group, in every subscription it granted in; never a resource group.
# The logic lives in azd_hooks.py, shared with the PowerShell hook beside this one.
set -eu
exec "${LIFECYCLE_HOOK_PYTHON:-python3}" "$(dirname "$0")/azd_hooks.py" predown
