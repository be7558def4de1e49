# azd preprovision hook (Windows): checks the groups and the senders, removes the assignments of scopes and features no longer named, finds system topics to reuse, decides whether the event subscriptions and the role assignments can be made.
# The logic lives in azd_hooks.py, shared with the sh hook beside this one.
$ErrorActionPreference = 'Stop'
$python = $env:LIFECYCLE_HOOK_PYTHON
if (-not $python) { $python = if (Get-Command python3 -ErrorAction SilentlyContinue) { 'python3' } else { 'python' } }
& $python (Join-Path $PSScriptRoot 'azd_hooks.py') preprovision
exit $LASTEXITCODE
