# postdeploy hook (Windows): see subscribe-events.sh. Event Grid only accepts a subscription to a function that
# exists, so the subscriptions are created by a second provision once the code has been deployed.
$ErrorActionPreference = 'Stop'

if ($env:LIFECYCLE_SUBSCRIBE_EVENTS -eq 'true') {
    Write-Host 'Event Grid subscriptions already enabled for this environment.'
    exit 0
}

Write-Host 'Function code deployed: creating the Event Grid subscriptions to on_event.'
azd env set LIFECYCLE_SUBSCRIBE_EVENTS true
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
azd provision --no-prompt
exit $LASTEXITCODE
