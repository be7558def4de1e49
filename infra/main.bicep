// Image lifecycle automation for Azure Compute Gallery: composition only, every resource lives in a module.
// Deploys the app's resource group, the function app and its storage, telemetry, Event Grid wiring and the
// least-privilege roles it needs on the galleries' resource groups.
targetScope = 'subscription'

@description('Name of the environment (azd environment name); seeds resource names and the azd-env-name tag.')
@minLength(1)
@maxLength(64)
param environmentName string

@description('Azure region of the app\'s resources (must offer the Flex Consumption plan).')
param location string

@description('Name of the resource group created for the app; empty means rg-<environmentName>.')
param resourceGroupName string = ''

@description('Names of the existing resource groups (in this subscription) that hold the galleries the policy manages. The app gets its custom role on each of them and nowhere else.')
@minLength(1)
param galleryResourceGroupNames array

@description('Where ARM resource events are taken from: resourceGroup = one Event Grid system topic in each galleries\' resource group; subscription = one subscription-wide system topic (use it when a resource group already has a system topic, since Azure allows one per source).')
@allowed([
  'resourceGroup'
  'subscription'
])
param resourceEventScope string = 'resourceGroup'

@description('Create the Event Grid subscriptions to the function. Event Grid checks that the function on_event exists, so the first provision runs with false and the postdeploy hook turns it on.')
param subscribeFunctionToEvents bool = false

@description('Blob name of the policy document in the lifecycle-config container.')
param policyBlobName string = 'policy.yaml'

@description('NCRONTAB schedule of the reconcile sweep (LIFECYCLE_SWEEP_SCHEDULE).')
param sweepSchedule string = '0 */15 * * * *'

@description('Public network access of the app\'s storage account. Disabled needs VNet integration and private endpoints, which this template does not create.')
@allowed([
  'Enabled'
  'Disabled'
])
param storagePublicNetworkAccess string = 'Enabled'

@description('Replication of the app\'s storage account.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
  'Standard_RAGRS'
  'Standard_RAGZRS'
])
param storageSkuName string = 'Standard_ZRS'

@description('Public network access of the custom Event Grid topic (build pipelines publish to it).')
@allowed([
  'Enabled'
  'Disabled'
])
param topicPublicNetworkAccess string = 'Enabled'

@description('Event Grid delivery attempts before an event is dead-lettered.')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@description('Minutes Event Grid retries an event before dead-lettering it.')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

@description('Upper bound of Flex Consumption instances.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Days Log Analytics keeps data.')
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 30

@description('Daily ingestion cap of Log Analytics in GB; -1 means no cap.')
param logDailyQuotaGb int = -1

@description('Object ids of users or groups allowed to upload the policy (Storage Blob Data Contributor on the lifecycle-config container only). azd passes the signed-in principal.')
param policyEditorPrincipalIds array = []

@description('Object ids of build pipelines allowed to publish ImageLifecycle.BuildCompleted (EventGrid Data Sender on the custom topic only).')
param eventPublisherPrincipalIds array = []

@description('Tags applied to every resource, in addition to azd-env-name.')
param tags object = {}

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var appResourceGroupName = empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
var allTags = union(tags, {
  'azd-env-name': environmentName
})
var functionName = 'on_event'
var deploymentContainerName = 'app-package-${resourceToken}'

var galleryFilters = [
  for rgName in galleryResourceGroupNames: {
    key: uniqueString(rgName)
    subjectPrefix: '/subscriptions/${subscription().subscriptionId}/resourceGroups/${rgName}/providers/Microsoft.Compute/galleries/'
  }
]

// One system topic per galleries' resource group, or one for the whole subscription.
var resourceGroupTopics = [
  for (rgName, i) in galleryResourceGroupNames: {
    resourceGroupName: rgName
    topicType: 'Microsoft.Resources.ResourceGroups'
    source: '${subscription().id}/resourceGroups/${rgName}'
    subjectFilters: [
      galleryFilters[i]
    ]
  }
]
var subscriptionTopics = [
  {
    resourceGroupName: appResourceGroupName
    topicType: 'Microsoft.Resources.Subscriptions'
    source: subscription().id
    subjectFilters: galleryFilters
  }
]
var resourceEventTopics = resourceEventScope == 'subscription' ? subscriptionTopics : resourceGroupTopics

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: appResourceGroupName
  location: location
  tags: allTags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-lifecycle-${resourceToken}'
    location: location
    tags: allTags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-lifecycle-${resourceToken}'
    applicationInsightsName: 'appi-lifecycle-${resourceToken}'
    location: location
    retentionInDays: logRetentionInDays
    dailyQuotaGb: logDailyQuotaGb
    tags: allTags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    skuName: storageSkuName
    publicNetworkAccess: storagePublicNetworkAccess
    deploymentContainerName: deploymentContainerName
    tags: allTags
  }
}

module lifecycleTopic 'modules/lifecycle-topic.bicep' = {
  name: 'lifecycle-topic'
  scope: rg
  params: {
    name: 'evgt-lifecycle-${resourceToken}'
    location: location
    publicNetworkAccess: topicPublicNetworkAccess
    tags: allTags
  }
}

module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  scope: rg
  params: {
    name: 'func-lifecycle-${resourceToken}'
    planName: 'plan-lifecycle-${resourceToken}'
    location: location
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    blobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    configContainerName: storage.outputs.configContainerName
    policyBlobName: policyBlobName
    stateContainerName: storage.outputs.stateContainerName
    fanoutQueueName: storage.outputs.fanoutQueueName
    eventsEndpoint: lifecycleTopic.outputs.endpoint
    sweepSchedule: sweepSchedule
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    maximumInstanceCount: maximumInstanceCount
    tags: allTags
  }
}

module buildEvents 'modules/build-events.bicep' = {
  name: 'build-events'
  scope: rg
  params: {
    topicName: lifecycleTopic.outputs.name
    functionAppId: functionApp.outputs.id
    functionName: functionName
    subscribeFunction: subscribeFunctionToEvents
    deadLetterStorageId: storage.outputs.id
    deadLetterContainerName: storage.outputs.deadLetterContainerName
    maxDeliveryAttempts: maxDeliveryAttempts
    eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
  }
}

module policyEvents 'modules/policy-events.bicep' = {
  name: 'policy-events'
  scope: rg
  params: {
    topicName: 'evgst-policy-${resourceToken}'
    location: location
    storageAccountId: storage.outputs.id
    configContainerName: storage.outputs.configContainerName
    policyBlobName: policyBlobName
    functionAppId: functionApp.outputs.id
    functionName: functionName
    subscribeFunction: subscribeFunctionToEvents
    deadLetterContainerName: storage.outputs.deadLetterContainerName
    maxDeliveryAttempts: maxDeliveryAttempts
    eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    tags: allTags
  }
}

module resourceEvents 'modules/resource-events.bicep' = [
  for (topic, i) in resourceEventTopics: {
    name: 'resource-events-${i}-${resourceToken}'
    scope: resourceGroup(topic.resourceGroupName)
    dependsOn: [
      rg
    ]
    params: {
      topicName: 'evgst-galleries-${resourceToken}'
      topicType: topic.topicType
      source: topic.source
      subjectFilters: topic.subjectFilters
      functionAppId: functionApp.outputs.id
      functionName: functionName
      subscribeFunction: subscribeFunctionToEvents
      deadLetterStorageId: storage.outputs.id
      deadLetterContainerName: storage.outputs.deadLetterContainerName
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
      tags: allTags
    }
  }
]

module customRole 'modules/role-definition.bicep' = {
  name: 'role-definition-${resourceToken}'
  params: {
    roleName: 'Gallery lifecycle operator (${environmentName}, ${resourceToken})'
    assignableScopes: [for rgName in galleryResourceGroupNames: '${subscription().id}/resourceGroups/${rgName}']
    nameSeed: '${environmentName}-${resourceToken}'
  }
}

module appRoles 'modules/roles-app.bicep' = {
  name: 'roles-app'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    configContainerName: storage.outputs.configContainerName
    deadLetterContainerName: storage.outputs.deadLetterContainerName
    topicName: lifecycleTopic.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    appPrincipalId: identity.outputs.principalId
    deadLetterWriterPrincipalIds: [
      lifecycleTopic.outputs.principalId
      policyEvents.outputs.principalId
    ]
    resourceEventsPrincipalIds: [for i in range(0, length(resourceEventTopics)): resourceEvents[i].outputs.principalId]
    policyEditorPrincipalIds: policyEditorPrincipalIds
    eventPublisherPrincipalIds: eventPublisherPrincipalIds
  }
}

module galleryRoles 'modules/roles-gallery.bicep' = [
  for rgName in galleryResourceGroupNames: {
    name: 'roles-gallery-${uniqueString(rgName)}-${resourceToken}'
    scope: resourceGroup(rgName)
    params: {
      roleAssignments: [
        {
          principalId: identity.outputs.principalId
          roleDefinitionId: customRole.outputs.id
          principalType: 'ServicePrincipal'
          description: 'Image lifecycle function app: manage image versions in this resource group\'s galleries.'
        }
      ]
    }
  }
]

@description('Region of the deployment (azd reads it back).')
output AZURE_LOCATION string = location

@description('Resource group holding the app.')
output AZURE_RESOURCE_GROUP string = rg.name

@description('Name of the function app.')
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name

@description('Name of the app\'s storage account (upload the policy here).')
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name

@description('Container the policy is uploaded to.')
output LIFECYCLE_CONFIG_CONTAINER string = storage.outputs.configContainerName

@description('Blob name of the policy.')
output LIFECYCLE_POLICY_BLOB string = policyBlobName

@description('URL the app reads the policy from.')
output LIFECYCLE_CONFIG_URL string = '${storage.outputs.blobEndpoint}${storage.outputs.configContainerName}/${policyBlobName}'

@description('Endpoint of the custom topic that takes ImageLifecycle.BuildCompleted and carries lifecycle events out.')
output LIFECYCLE_EVENTS_ENDPOINT string = lifecycleTopic.outputs.endpoint

@description('Resource id of the custom role assigned at the galleries\' resource groups.')
output LIFECYCLE_ROLE_DEFINITION_ID string = customRole.outputs.id

@description('Whether the Event Grid subscriptions to the function exist (the postdeploy hook turns them on).')
output LIFECYCLE_SUBSCRIBE_EVENTS bool = subscribeFunctionToEvents
