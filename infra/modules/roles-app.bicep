// Every role assignment inside the app's resource group, each on the narrowest resource that works:
// the app's identity reads the policy container, writes the state container, owns the host's storage
// account, sends to the lifecycle topic and publishes telemetry; the deployment identity writes the package
// container; the topics' identities write the dead-letter container; policy editors write the policy
// container. Senders of builds and approvals get their own topic each (roles-sender-topic.bicep). The data
// roles listed by `python -m lifecycle permissions`.

@description('Name of the app\'s data storage account (policy, state, dead letters, deployment package).')
param storageAccountName string

@description('Name of the Functions host\'s storage account (AzureWebJobsStorage).')
param hostStorageAccountName string

@description('Container holding the policy document.')
param configContainerName string

@description('Container holding run state, leases and the audit log.')
param stateContainerName string

@description('Container the Flex Consumption plan deploys the package from.')
param deploymentContainerName string

@description('Container Event Grid dead-letters into.')
param deadLetterContainerName string

@description('The sweep\'s fan-out queue and its poison queue: the app sends, receives and deletes messages there.')
param queueNames array

@description('Name of the lifecycle topic (the app publishes into it).')
param lifecycleTopicName string

@description('Name of the Application Insights component.')
param applicationInsightsName string

@description('Principal id of the function app\'s user-assigned identity.')
param appPrincipalId string

@description('Principal id of the identity the platform reads and writes the deployment package with.')
param deploymentPrincipalId string

@description('Principal ids of the sender topics\' and the storage system topic\'s identities (they write dead letters).')
param deadLetterWriterPrincipalIds array

@description('Principal ids of the ARM resource-event system topics\' identities (they write dead letters).')
param resourceEventsPrincipalIds array

@description('Principal ids of the build systems\' topics\' identities (they write dead letters).')
param senderTopicPrincipalIds array = []

@description('Principal ids (users or groups) allowed to upload the policy: Storage Blob Data Contributor on the policy container only.')
param policyEditorPrincipalIds array = []

// Built-in role ids (learn.microsoft.com/azure/role-based-access-control/built-in-roles).
var storageBlobDataContributor = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'ba92f5b4-2d11-453d-a403-e96b0029c9fe')
var storageQueueDataContributor = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '974c5e8b-45b9-4653-ba55-5f855dd0fb88')
var storageBlobDataReader = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1')
var eventGridDataSender = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'd5a91429-5739-47e2-a06b-3470a27159e7')
var monitoringMetricsPublisher = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '3913510d-42f4-4e42-8a64-420c390055eb')

var deadLetterWriters = filter(concat(deadLetterWriterPrincipalIds, senderTopicPrincipalIds, resourceEventsPrincipalIds), id => !empty(id))

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hostStorageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource configContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: configContainerName
}

resource stateContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: stateContainerName
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: deploymentContainerName
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: deadLetterContainerName
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' existing = [
  for name in queueNames: {
    parent: queueService
    name: name
  }
]

resource lifecycleTopic 'Microsoft.EventGrid/topics@2025-02-15' existing = {
  name: lifecycleTopicName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// The app reads its policy and never writes it: an app that could rewrite its own policy could grant itself
// deletes.
resource configReaderRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in [appPrincipalId]: {
    name: guid(configContainer.id, principalId, storageBlobDataReader)
    scope: configContainer
    properties: {
      principalId: principalId
      roleDefinitionId: storageBlobDataReader
      principalType: 'ServicePrincipal'
      description: 'Function app: reads the lifecycle policy.'
    }
  }
]

resource stateWriterRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in [appPrincipalId]: {
    name: guid(stateContainer.id, principalId, storageBlobDataContributor)
    scope: stateContainer
    properties: {
      principalId: principalId
      roleDefinitionId: storageBlobDataContributor
      principalType: 'ServicePrincipal'
      description: 'Function app: run state, leases, audit log, the last accepted policy.'
    }
  }
]

// The host creates its own containers (locks, timer state, keys): it needs the whole account, which holds
// nothing else.
resource hostStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in [appPrincipalId]: {
    name: guid(hostStorage.id, principalId, storageBlobDataContributor)
    scope: hostStorage
    properties: {
      principalId: principalId
      roleDefinitionId: storageBlobDataContributor
      principalType: 'ServicePrincipal'
      description: 'Function app: Functions host storage (AzureWebJobsStorage).'
    }
  }
]

// The fan-out: the sweep sends one message per image, the queue trigger receives and deletes them, the
// sweep reads what the host moved to the poison queue. Each queue, not the account.
resource queueRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (name, i) in queueNames: {
    name: guid(queues[i].id, appPrincipalId, storageQueueDataContributor)
    scope: queues[i]
    properties: {
      principalId: appPrincipalId
      roleDefinitionId: storageQueueDataContributor
      principalType: 'ServicePrincipal'
      description: 'Function app: the sweep\'s fan-out queue.'
    }
  }
]

resource packageWriterRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in [deploymentPrincipalId]: {
    name: guid(deploymentContainer.id, principalId, storageBlobDataContributor)
    scope: deploymentContainer
    properties: {
      principalId: principalId
      roleDefinitionId: storageBlobDataContributor
      principalType: 'ServicePrincipal'
      description: 'Deployment identity: the Flex Consumption package.'
    }
  }
]

resource lifecycleSenderRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in [appPrincipalId]: {
    name: guid(lifecycleTopic.id, principalId, eventGridDataSender)
    scope: lifecycleTopic
    properties: {
      principalId: principalId
      roleDefinitionId: eventGridDataSender
      principalType: 'ServicePrincipal'
      description: 'Function app: publishes ImageLifecycle events.'
    }
  }
]

resource appInsightsRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in [appPrincipalId]: {
    name: guid(appInsights.id, principalId, monitoringMetricsPublisher)
    scope: appInsights
    properties: {
      principalId: principalId
      roleDefinitionId: monitoringMetricsPublisher
      principalType: 'ServicePrincipal'
      description: 'Function app: sends telemetry with Entra auth (local auth is disabled).'
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

@description('Number of role assignments this module manages.')
output count int = 6 + length(queueNames) + length(deadLetterWriters) + length(policyEditorPrincipalIds)
