// The lifecycle topic (CloudEvents 1.0, Entra auth only): only the app publishes ImageLifecycle.* events
// into it, and consumers subscribe there. Builds and approvals come in through topics of their own, one per
// sender (sender-topic.bicep), so a pipeline cannot forge lifecycle events and the app cannot forge builds.

@description('Name of the custom topic.')
param name string

@description('Azure region of the topic.')
param location string

@description('Public network access to the topic. Publishers (pipelines, the app) reach it over its public endpoint unless private endpoints are added.')
@allowed([
  'Enabled'
  'Disabled'
])
param publicNetworkAccess string = 'Enabled'

@description('Give the topic a managed identity to write dead letters with (only a topic with subscriptions to the function needs one).')
param deadLetterIdentity bool = false

@description('Tags applied to the topic.')
param tags object = {}

resource topic 'Microsoft.EventGrid/topics@2025-02-15' = {
  // checkov:skip=CKV_AZURE_193:Public network access is a parameter; build pipelines outside Azure publish to the topic, and publishing needs an Entra token (local auth is disabled).
  name: name
  location: location
  tags: tags
  identity: {
    // Used to write dead letters: no storage key or SAS lives in the subscription.
    type: deadLetterIdentity ? 'SystemAssigned' : 'None'
  }
  properties: {
    inputSchema: 'CloudEventSchemaV1_0'
    disableLocalAuth: true
    publicNetworkAccess: publicNetworkAccess
    minimumTlsVersionAllowed: '1.2'
  }
}

@description('Resource id of the topic.')
output id string = topic.id

@description('Name of the topic.')
output name string = topic.name

@description('Publishing endpoint of the topic.')
output endpoint string = topic.properties.endpoint

@description('Principal id of the topic\'s identity, which writes dead letters (empty without one).')
output principalId string = deadLetterIdentity ? topic.identity.principalId : ''

