#!/bin/sh
# predown hook: remove what the deployment placed outside the app's resource group, before `azd down` deletes
# that group: the resource-event system topics in the galleries' resource groups with their event
# subscriptions (Azure allows one system topic per source, so a leftover one breaks the next environment),
# every role assignment of the app's identity (galleries' and templates' resource groups, subscriptions) and
# the environment's custom roles. Never a resource group: those belong to you (azd >= 1.24.0 no longer deletes
# groups it did not create, Azure/azure-dev#7698; azure.yaml requires it).
# Finally LIFECYCLE_SUBSCRIBE_EVENTS goes back to false: a new `azd up` must deploy the function first.
set -eu

token="${LIFECYCLE_RESOURCE_TOKEN:-}"
principal="${LIFECYCLE_APP_PRINCIPAL_ID:-}"
sub="${AZURE_SUBSCRIPTION_ID:-}"

if [ -n "$token" ]; then
  az resource list --resource-type Microsoft.EventGrid/systemTopics ${sub:+--subscription "$sub"} \
    --query "[?name=='evgst-galleries-${token}'].[resourceGroup, name]" --output tsv |
    while read -r group topic; do
      for subscription in $(az eventgrid system-topic event-subscription list ${sub:+--subscription "$sub"} \
        --resource-group "$group" --system-topic-name "$topic" --query "[].name" --output tsv); do
        echo "Deleting event subscription $subscription of system topic $topic in $group."
        az eventgrid system-topic event-subscription delete ${sub:+--subscription "$sub"} --yes \
          --resource-group "$group" --system-topic-name "$topic" --name "$subscription"
      done
      echo "Deleting system topic $topic in $group."
      az eventgrid system-topic delete ${sub:+--subscription "$sub"} --yes --resource-group "$group" --name "$topic"
    done
fi

if [ -n "$principal" ]; then
  for assignment in $(az role assignment list --all --assignee "$principal" ${sub:+--subscription "$sub"} \
    --query "[].id" --output tsv); do
    echo "Deleting role assignment $assignment."
    az role assignment delete --ids "$assignment"
  done
fi

if [ -n "$token" ]; then
  az role definition list --custom-role-only true ${sub:+--subscription "$sub"} \
    --query "[?contains(roleName, '${token}')].[name, roleName]" --output tsv |
    while IFS="$(printf '\t')" read -r name title; do
      echo "Deleting custom role '$title'."
      az role definition delete --name "$name" ${sub:+--subscription "$sub"}
    done
fi

azd env set LIFECYCLE_SUBSCRIBE_EVENTS false
