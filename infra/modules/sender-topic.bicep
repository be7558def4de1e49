// A custom Event Grid topic for one kind of sender (one build system, or the approvers), in the Event Grid
// schema, and its subscription to the function. Event Grid stamps every event's `topic` with this topic's
// resource id and refuses an event that names another one, so the app can tell senders apart by the topic
// alone: the policy lists these ids as a gallery's build_sources or approval_sources. Only the principals
// given EventGrid Data Sender on this topic (roles-sender-topic.bicep) can publish into it; local (key) auth
// is off.

@description('Name of the custom topic (3-50 letters, digits and hyphens).')
@minLength(3)
@maxLength(50)
param name string

@description('Azure region of the topic.')
param location string

@description('Public network access to the topic. Pipelines outside Azure publish over its public endpoint unless private endpoints are added.')
@allowed([
  'Enabled'
  'Disabled'
])
param publicNetworkAccess string = 'Enabled'

@description('The event types this topic\'s senders may announce; the subscription to the function delivers only these (ImageLifecycle.BuildCompleted for a build system, ImageLifecycle.VersionApproved for the approvers).')
@minLength(1)
param eventTypes array

@description('Resource id of the function app that receives the events.')
param functionAppId string

@description('Name of the Event Grid triggered function in the app.')
param functionName string = 'on_event'

@description('Create the event subscription. Event Grid checks that the function exists, so it can only be created once the code is deployed.')
param subscribeFunction bool

@description('Name of the event subscription; carries the environment\'s token so that environments never overwrite each other\'s.')
param subscriptionName string

@description('Resource id of the storage account holding the dead-letter container.')
param deadLetterStorageId string

@description('Container undeliverable events are dead-lettered into.')
param deadLetterContainerName string

@description('Delivery attempts before an event is dead-lettered.')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@description('Minutes an event is retried before it is dead-lettered.')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

@description('Tags applied to the topic.')
param tags object = {}

resource topic 'Microsoft.EventGrid/topics@2025-02-15' = {
  // checkov:skip=CKV_AZURE_193:Public network access is a parameter; build pipelines outside Azure publish to the topic, and publishing needs an Entra token (local auth is disabled).
  name: name
  location: location
  tags: tags
  identity: {
    // Writes dead letters: no storage key or SAS lives in the subscription.
    type: 'SystemAssigned'
  }
  properties: {
    // The Event Grid schema: Event Grid stamps `topic`; a CloudEvents `source` is the sender's own claim.
    inputSchema: 'EventGridSchema'
    disableLocalAuth: true
    publicNetworkAccess: publicNetworkAccess
    minimumTlsVersionAllowed: '1.2'
  }
}

resource toFunction 'Microsoft.EventGrid/topics/eventSubscriptions@2025-02-15' = if (subscribeFunction) {
  parent: topic
  name: subscriptionName
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/${functionName}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    // Delivered as published, stamped topic included: the app reads the sender from it.
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: eventTypes
    }
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

@description('Resource id of the topic: the value Event Grid stamps as `topic`, for the policy\'s build_sources or approval_sources.')
output id string = topic.id

@description('Name of the topic.')
output name string = topic.name

@description('Publishing endpoint of the topic.')
output endpoint string = topic.properties.endpoint

@description('Principal id of the topic\'s identity, which writes dead letters.')
output principalId string = topic.identity.principalId
