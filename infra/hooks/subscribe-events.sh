#!/bin/sh
# postdeploy hook: Event Grid only accepts a subscription to a function that exists, so the subscriptions are
# created by a second provision once the code has been deployed and the host lists the on_event function
# (a deploy returns before the host has indexed the new code, so it is polled for, with a timeout).
# Runs once per environment; later deploys find LIFECYCLE_SUBSCRIBE_EVENTS=true and do nothing. `azd down`
# sets it back to false (predown hook), so a new `azd up` subscribes again only once the function exists.
set -eu

if [ "${LIFECYCLE_SUBSCRIBE_EVENTS:-false}" = "true" ]; then
  echo "Event Grid subscriptions already enabled for this environment."
  exit 0
fi

app="${AZURE_FUNCTION_APP_NAME:?AZURE_FUNCTION_APP_NAME is not set: run azd provision first}"
group="${AZURE_RESOURCE_GROUP:?AZURE_RESOURCE_GROUP is not set: run azd provision first}"
timeout="${LIFECYCLE_FUNCTION_WAIT_SECONDS:-600}"
waited=0
echo "Waiting for function app $app to list on_event (up to ${timeout}s)..."
until az functionapp function show --name "$app" --resource-group "$group" --function-name on_event \
  --query name --output tsv >/dev/null 2>&1; do
  if [ "$waited" -ge "$timeout" ]; then
    echo "error: $app did not list the function on_event within ${timeout}s, so the Event Grid subscriptions were not created." >&2
    echo "       Check the deployment and the app's logs, then run 'azd hooks run postdeploy' (or raise LIFECYCLE_FUNCTION_WAIT_SECONDS)." >&2
    exit 1
  fi
  sleep 10
  waited=$((waited + 10))
done

echo "on_event is listed: creating the Event Grid subscriptions to it."
azd env set LIFECYCLE_SUBSCRIBE_EVENTS true
if ! azd provision --no-prompt; then
  azd env set LIFECYCLE_SUBSCRIBE_EVENTS false
  exit 1
fi
