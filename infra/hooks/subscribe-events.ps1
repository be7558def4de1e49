# azd postdeploy hook (Windows): once the app lists on_event, provisions again so that Event Grid subscribes to it.
# The logic lives in azd_hooks.py, shared with the sh hook beside this one.
$ErrorActionPreference = 'Stop'
$python = $env:LIFECYCLE_HOOK_PYTHON
if (-not $python) { $python = if (Get-Command python3 -ErrorAction SilentlyContinue) { 'python3' } else { 'python' } }
& $python (Join-Path $PSScriptRoot 'azd_hooks.py') postdeploy
exit $LASTEXITCODE
