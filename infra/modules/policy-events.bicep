// An Event Grid system topic on the app's storage account, subscribed to BlobCreated on the policy blob:
// an edit of the policy is validated and reconciled right away instead of at the next sweep.

@description('Name of the system topic.')
param topicName string

@description('Azure region of the storage account (a storage system topic lives in its account\'s region).')
param location string

@description('Resource id of the app\'s storage account.')
param storageAccountId string

@description('Container holding the policy document.')
param configContainerName string

@description('Blob name of the policy document inside the config container.')
param policyBlobName string

@description('Resource id of the function app that receives the events.')
param functionAppId string

@description('Name of the Event Grid triggered function in the app.')
param functionName string = 'on_event'

@description('Create the event subscription. Event Grid checks that the function exists, so it can only be created once the code is deployed.')
param subscribeFunction bool

@description('Container undeliverable events are dead-lettered into (in the same account).')
param deadLetterContainerName string

@description('Delivery attempts before an event is dead-lettered.')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@description('Minutes an event is retried before it is dead-lettered.')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

@description('Tags applied to the system topic.')
param tags object = {}

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: topicName
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: storageAccountId
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

resource subscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = if (subscribeFunction) {
  parent: topic
  name: 'policy-changed'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/${functionName}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.Storage.BlobCreated'
      ]
      // Only the policy blob itself; other blobs in the container are drafts and never take effect.
      subjectBeginsWith: '/blobServices/default/containers/${configContainerName}/blobs/${policyBlobName}'
      subjectEndsWith: policyBlobName
      isSubjectCaseSensitive: true
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
          resourceId: storageAccountId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

@description('Resource id of the system topic.')
output id string = topic.id

@description('Principal id of the topic\'s identity, which writes dead letters.')
output principalId string = topic.identity.principalId
