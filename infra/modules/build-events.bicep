// The builds topic's subscription to the function: ImageLifecycle.BuildCompleted and VersionApproved from the
// pipelines. The app's own lifecycle events go to another topic and never reach it.

@description('Name of the existing custom topic.')
param topicName string

@description('Resource id of the function app that receives build completions.')
param functionAppId string

@description('Name of the Event Grid triggered function in the app.')
param functionName string = 'on_event'

@description('Create the event subscription. Event Grid checks that the function exists, so it can only be created once the code is deployed.')
param subscribeFunction bool

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

resource topic 'Microsoft.EventGrid/topics@2025-02-15' existing = {
  name: topicName
}

resource buildCompleted 'Microsoft.EventGrid/topics/eventSubscriptions@2025-02-15' = if (subscribeFunction) {
  parent: topic
  name: 'build-completed'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/${functionName}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'CloudEventSchemaV1_0'
    filter: {
      includedEventTypes: [
        'ImageLifecycle.BuildCompleted'
        'ImageLifecycle.VersionApproved'
      ]
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

@description('Name of the event subscription (empty when not subscribed yet).')
output name string = subscribeFunction ? buildCompleted.name : ''
