# postdeploy hook (Windows): see subscribe-events.sh. Event Grid only accepts a subscription to a function that
# exists, so the subscriptions are created by a second provision once the host lists on_event (polled, with a
# timeout).
$ErrorActionPreference = 'Stop'

if ($env:LIFECYCLE_SUBSCRIBE_EVENTS -eq 'true') {
    Write-Host 'Event Grid subscriptions already enabled for this environment.'
    exit 0
}

$app = $env:AZURE_FUNCTION_APP_NAME
$group = $env:AZURE_RESOURCE_GROUP
if (-not $app -or -not $group) {
    Write-Error 'AZURE_FUNCTION_APP_NAME or AZURE_RESOURCE_GROUP is not set: run azd provision first.'
    exit 1
}
$timeout = if ($env:LIFECYCLE_FUNCTION_WAIT_SECONDS) { [int]$env:LIFECYCLE_FUNCTION_WAIT_SECONDS } else { 600 }
$waited = 0
Write-Host "Waiting for function app $app to list on_event (up to ${timeout}s)..."
while ($true) {
    az functionapp function show --name $app --resource-group $group --function-name on_event --query name --output tsv *> $null
    if ($LASTEXITCODE -eq 0) { break }
    if ($waited -ge $timeout) {
        Write-Error "$app did not list the function on_event within ${timeout}s, so the Event Grid subscriptions were not created. Check the deployment and the app's logs, then run 'azd hooks run postdeploy' (or raise LIFECYCLE_FUNCTION_WAIT_SECONDS)."
        exit 1
    }
    Start-Sleep -Seconds 10
    $waited += 10
}

Write-Host 'on_event is listed: creating the Event Grid subscriptions to it.'
azd env set LIFECYCLE_SUBSCRIBE_EVENTS true
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
azd provision --no-prompt
if ($LASTEXITCODE -ne 0) {
    azd env set LIFECYCLE_SUBSCRIBE_EVENTS false
    exit 1
}
