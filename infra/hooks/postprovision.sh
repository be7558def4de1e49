#!/bin/sh
# azd postprovision hook: when the deployment left the custom roles' assignments for later, waits until Azure shows the roles, then provisions again.
# The logic lives in azd_hooks.py, shared with the PowerShell hook beside this one.
set -eu
exec "${LIFECYCLE_HOOK_PYTHON:-python3}" "$(dirname "$0")/azd_hooks.py" postprovision
