#!/bin/sh
# postdeploy hook: Event Grid only accepts a subscription to a function that exists, so the subscriptions are
# created by a second provision once the code (and with it the on_event function) has been deployed.
# Runs once per environment; later deploys find LIFECYCLE_SUBSCRIBE_EVENTS=true and do nothing.
set -eu

if [ "${LIFECYCLE_SUBSCRIBE_EVENTS:-false}" = "true" ]; then
  echo "Event Grid subscriptions already enabled for this environment."
  exit 0
fi

echo "Function code deployed: creating the Event Grid subscriptions to on_event."
azd env set LIFECYCLE_SUBSCRIBE_EVENTS true
azd provision --no-prompt
