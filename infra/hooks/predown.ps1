# azd predown hook (Windows): removes what the deployment placed outside the app's resource group, in every subscription it granted in; never a resource group.
# The logic lives in azd_hooks.py, shared with the sh hook beside this one.
$ErrorActionPreference = 'Stop'
$python = $env:LIFECYCLE_HOOK_PYTHON
if (-not $python) { $python = if (Get-Command python3 -ErrorAction SilentlyContinue) { 'python3' } else { 'python' } }
& $python (Join-Path $PSScriptRoot 'azd_hooks.py') predown
exit $LASTEXITCODE
