# azd postprovision hook (Windows): when the deployment left the custom roles' assignments for later, waits until Azure shows the roles, then provisions again.
# The logic lives in azd_hooks.py, shared with the sh hook beside this one.
$ErrorActionPreference = 'Stop'
$python = $env:LIFECYCLE_HOOK_PYTHON
if (-not $python) { $python = if (Get-Command python3 -ErrorAction SilentlyContinue) { 'python3' } else { 'python' } }
& $python (Join-Path $PSScriptRoot 'azd_hooks.py') postprovision
exit $LASTEXITCODE
