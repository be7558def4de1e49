// An Event Grid system topic on ARM resource events (a galleries' resource group, or the whole subscription),
// created or reused, and the subscriptions that send gallery image version writes to the function.
// A resource-group system topic must live in the resource group it watches: deploy this module there (a
// reused topic: where it lives).

@description('Name of the system topic to create (when no existing one is reused).')
param topicName string

@description('Name of an existing system topic in this resource group to attach the subscriptions to instead of creating one (Azure allows one system topic per source); empty to create topicName. It must have a system-assigned identity, which writes the dead letters.')
param existingTopicName string = ''

@description('Suffix of the event subscriptions\' names (the environment\'s token), so that environments sharing a topic never overwrite or delete each other\'s subscriptions.')
param subscriptionSuffix string

@description('Which ARM events the topic carries: those of one resource group, or of the whole subscription.')
@allowed([
  'Microsoft.Resources.ResourceGroups'
  'Microsoft.Resources.Subscriptions'
])
param topicType string

@description('Resource id of the event source: the resource group id, or the subscription id (/subscriptions/<id>).')
param source string

@description('One event subscription per entry: a short key naming it and the subject prefix it filters on (the galleries of one resource group).')
param subjectFilters array

@description('Resource id of the function app that receives the events.')
param functionAppId string

@description('Name of the Event Grid triggered function in the app.')
param functionName string = 'on_event'

@description('Create the event subscriptions. Event Grid checks that the function exists, so they can only be created once the code is deployed.')
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

@description('Tags applied to the system topic.')
param tags object = {}

var reuse = !empty(existingTopicName)
var attachedTopicName = reuse ? existingTopicName : topicName

resource existingTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = if (reuse) {
  name: existingTopicName
}

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' = if (!reuse) {
  name: topicName
  // ARM resource events are not regional.
  location: 'global'
  tags: tags
  identity: {
    // Used to write dead letters: no storage key or SAS lives in the subscription.
    type: 'SystemAssigned'
  }
  properties: {
    source: source
    topicType: topicType
  }
}

resource subscriptions 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = [
  for subjectFilter in subjectFilters: if (subscribeFunction) {
    name: '${attachedTopicName}/gallery-versions-${subjectFilter.key}-${subscriptionSuffix}'
    dependsOn: [
      topic
    ]
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
          'Microsoft.Resources.ResourceWriteSuccess'
        ]
        subjectBeginsWith: subjectFilter.subjectPrefix
        isSubjectCaseSensitive: false
        advancedFilters: [
          {
            operatorType: 'StringIn'
            key: 'data.operationName'
            values: [
              'Microsoft.Compute/galleries/images/versions/write'
            ]
          }
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
]

@description('Resource id of the system topic, created or reused.')
output id string = reuse ? existingTopic.id : topic.id

@description('Principal id of the topic\'s identity, which writes dead letters.')
output principalId string = reuse ? existingTopic.identity.principalId : topic.identity.principalId
