// Every role assignment inside the app's resource group, each on the narrowest resource that works:
// the app's identity on its own storage account, topic and telemetry; the Event Grid topics' identities on
// the dead-letter container only; policy editors on the policy container only; publishers on the topic only.

@description('Name of the app\'s storage account.')
param storageAccountName string

@description('Container holding the policy document.')
param configContainerName string

@description('Container Event Grid dead-letters into.')
param deadLetterContainerName string

@description('Name of the custom Event Grid topic.')
param topicName string

@description('Name of the Application Insights component.')
param applicationInsightsName string

@description('Principal id of the function app\'s user-assigned identity.')
param appPrincipalId string

@description('Principal ids of the custom topic\'s and the storage system topic\'s identities (they write dead letters).')
param deadLetterWriterPrincipalIds array

@description('Principal ids of the ARM resource-event system topics\' identities (they write dead letters).')
param resourceEventsPrincipalIds array

@description('Principal ids (users or groups) allowed to upload the policy: Storage Blob Data Contributor on the policy container only.')
param policyEditorPrincipalIds array = []

@description('Principal ids (build pipelines) allowed to publish ImageLifecycle.BuildCompleted: EventGrid Data Sender on the topic only.')
param eventPublisherPrincipalIds array = []

// Built-in role ids. Storage Blob Data Contributor, not Owner: blob leases and container creation by the
// Functions host are covered by it; Owner would only add POSIX ACL management.
var storageBlobDataContributor = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'ba92f5b4-2d11-453d-a403-e96b0029c9fe')
var storageQueueDataContributor = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '974c5e8b-45b9-4653-ba55-5f855dd0fb88')
var eventGridDataSender = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'd5a91429-5739-47e2-a06b-3470a27159e7')
var monitoringMetricsPublisher = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '3913510d-42f4-4e42-8a64-420c390055eb')

var storageAccountAssignments = [
  {
    principalId: appPrincipalId
    roleDefinitionId: storageBlobDataContributor
    principalType: 'ServicePrincipal'
    description: 'Function app: policy, state, leases, audit log, host storage and deployment package.'
  }
  {
    principalId: appPrincipalId
    roleDefinitionId: storageQueueDataContributor
    principalType: 'ServicePrincipal'
    description: 'Function app: Functions host queues.'
  }
]

var topicAssignments = [
  {
    principalId: appPrincipalId
    roleDefinitionId: eventGridDataSender
    principalType: 'ServicePrincipal'
    description: 'Function app: publishes ImageLifecycle events.'
  }
]

var appInsightsAssignments = [
  {
    principalId: appPrincipalId
    roleDefinitionId: monitoringMetricsPublisher
    principalType: 'ServicePrincipal'
    description: 'Function app: sends telemetry with Entra auth (local auth is disabled).'
  }
]

var deadLetterWriters = concat(deadLetterWriterPrincipalIds, resourceEventsPrincipalIds)

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource configContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: configContainerName
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: deadLetterContainerName
}

resource topic 'Microsoft.EventGrid/topics@2025-02-15' existing = {
  name: topicName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource storageAccountRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for assignment in storageAccountAssignments: {
    name: guid(storage.id, assignment.principalId, assignment.roleDefinitionId)
    scope: storage
    properties: {
      principalId: assignment.principalId
      roleDefinitionId: assignment.roleDefinitionId
      principalType: assignment.principalType
      description: assignment.description
    }
  }
]

resource topicRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for assignment in topicAssignments: {
    name: guid(topic.id, assignment.principalId, assignment.roleDefinitionId)
    scope: topic
    properties: {
      principalId: assignment.principalId
      roleDefinitionId: assignment.roleDefinitionId
      principalType: assignment.principalType
      description: assignment.description
    }
  }
]

resource appInsightsRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for assignment in appInsightsAssignments: {
    name: guid(appInsights.id, assignment.principalId, assignment.roleDefinitionId)
    scope: appInsights
    properties: {
      principalId: assignment.principalId
      roleDefinitionId: assignment.roleDefinitionId
      principalType: assignment.principalType
      description: assignment.description
    }
  }
]

// Dead letters: each topic identity may write into the dead-letter container and nowhere else.
resource deadLetterRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in deadLetterWriters: {
    name: guid(deadLetterContainer.id, principalId, storageBlobDataContributor)
    scope: deadLetterContainer
    properties: {
      principalId: principalId
      roleDefinitionId: storageBlobDataContributor
      principalType: 'ServicePrincipal'
      description: 'Event Grid topic identity: writes dead-lettered events.'
    }
  }
]

// People or groups who edit the policy; principal type left open (user or group).
resource policyEditorRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in policyEditorPrincipalIds: {
    name: guid(configContainer.id, principalId, storageBlobDataContributor)
    scope: configContainer
    properties: {
      principalId: principalId
      roleDefinitionId: storageBlobDataContributor
      description: 'Policy editor: uploads the lifecycle policy.'
    }
  }
]

// Build pipelines that announce finished builds.
resource eventPublisherRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in eventPublisherPrincipalIds: {
    name: guid(topic.id, principalId, eventGridDataSender)
    scope: topic
    properties: {
      principalId: principalId
      roleDefinitionId: eventGridDataSender
      description: 'Build pipeline: publishes ImageLifecycle.BuildCompleted.'
    }
  }
]

@description('Number of role assignments this module manages.')
output count int = length(storageAccountAssignments) + length(topicAssignments) + length(appInsightsAssignments) + length(deadLetterWriters) + length(policyEditorPrincipalIds) + length(eventPublisherPrincipalIds)
