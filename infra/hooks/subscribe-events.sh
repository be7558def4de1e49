#!/bin/sh
# azd postdeploy hook: once the app lists on_event, provisions again so that Event Grid subscribes to it.
# The logic lives in azd_hooks.py, shared with the PowerShell hook beside this one.
set -eu
exec "${LIFECYCLE_HOOK_PYTHON:-python3}" "$(dirname "$0")/azd_hooks.py" postdeploy
