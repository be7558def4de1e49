#!/bin/sh
# preprovision hook: fail early, saying what to do, when the galleries' resource group is unset or does not
# exist (the deployment would otherwise fail late, half-way through), and likewise for the templates' one.
set -eu

gallery_rg="${LIFECYCLE_GALLERY_RESOURCE_GROUP:-}"
if [ -z "$gallery_rg" ]; then
  echo "error: LIFECYCLE_GALLERY_RESOURCE_GROUP is not set: the resource group holding the galleries the policy manages." >&2
  echo "       Run: azd env set LIFECYCLE_GALLERY_RESOURCE_GROUP <resource group>" >&2
  exit 1
fi
if ! command -v az >/dev/null 2>&1; then
  echo "error: the Azure CLI (az) is needed to check that resource group '$gallery_rg' exists; install it and run 'az login'." >&2
  exit 1
fi

check_group() {
  # $1: the resource group, $2: the azd setting that names it
  if [ "$(az group exists --name "$1" ${AZURE_SUBSCRIPTION_ID:+--subscription "$AZURE_SUBSCRIPTION_ID"})" != "true" ]; then
    echo "error: resource group '$1' ($2) does not exist in subscription ${AZURE_SUBSCRIPTION_ID:-(the default one)}." >&2
    echo "       The deployment never creates it: set $2 to an existing resource group." >&2
    exit 1
  fi
}

check_group "$gallery_rg" LIFECYCLE_GALLERY_RESOURCE_GROUP
if [ -n "${LIFECYCLE_TEMPLATE_RESOURCE_GROUP:-}" ]; then
  check_group "$LIFECYCLE_TEMPLATE_RESOURCE_GROUP" LIFECYCLE_TEMPLATE_RESOURCE_GROUP
fi
echo "Galleries' resource group '$gallery_rg' found."
