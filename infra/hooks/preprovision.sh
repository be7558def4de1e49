#!/bin/sh
# azd preprovision hook: checks the groups and the senders, removes the assignments of scopes and features no longer named, finds system topics to reuse, decides whether the event subscriptions and the role assignments can be made.
# The logic lives in azd_hooks.py, shared with the PowerShell hook beside this one.
set -eu
exec "${LIFECYCLE_HOOK_PYTHON:-python3}" "$(dirname "$0")/azd_hooks.py" preprovision
