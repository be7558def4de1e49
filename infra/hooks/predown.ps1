# predown hook (Windows): see predown.sh. Removes what the deployment placed outside the app's resource group
# (the galleries' system topics and their event subscriptions, the app identity's role assignments, the
# environment's custom roles), never a resource group, then sets LIFECYCLE_SUBSCRIBE_EVENTS back to false.
$ErrorActionPreference = 'Stop'

$token = $env:LIFECYCLE_RESOURCE_TOKEN
$principal = $env:LIFECYCLE_APP_PRINCIPAL_ID
$subscription = @()
if ($env:AZURE_SUBSCRIPTION_ID) { $subscription = @('--subscription', $env:AZURE_SUBSCRIPTION_ID) }

function Invoke-Az {
    & az @args
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
}

if ($token) {
    $topics = Invoke-Az resource list --resource-type Microsoft.EventGrid/systemTopics @subscription --query "[?name=='evgst-galleries-$token'].{group: resourceGroup, name: name}" --output json | ConvertFrom-Json
    foreach ($topic in $topics) {
        $names = Invoke-Az eventgrid system-topic event-subscription list @subscription --resource-group $topic.group --system-topic-name $topic.name --query '[].name' --output json | ConvertFrom-Json
        foreach ($name in $names) {
            Write-Host "Deleting event subscription $name of system topic $($topic.name) in $($topic.group)."
            Invoke-Az eventgrid system-topic event-subscription delete @subscription --yes --resource-group $topic.group --system-topic-name $topic.name --name $name
        }
        Write-Host "Deleting system topic $($topic.name) in $($topic.group)."
        Invoke-Az eventgrid system-topic delete @subscription --yes --resource-group $topic.group --name $topic.name
    }
}

if ($principal) {
    $assignments = Invoke-Az role assignment list --all --assignee $principal @subscription --query '[].id' --output json | ConvertFrom-Json
    foreach ($assignment in $assignments) {
        Write-Host "Deleting role assignment $assignment."
        Invoke-Az role assignment delete --ids $assignment
    }
}

if ($token) {
    $roles = Invoke-Az role definition list --custom-role-only true @subscription --query "[?contains(roleName, '$token')].{name: name, title: roleName}" --output json | ConvertFrom-Json
    foreach ($role in $roles) {
        Write-Host "Deleting custom role '$($role.title)'."
        Invoke-Az role definition delete --name $role.name @subscription
    }
}

azd env set LIFECYCLE_SUBSCRIBE_EVENTS false
exit $LASTEXITCODE
