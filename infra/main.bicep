// Image lifecycle automation for Azure Compute Gallery: composition only, every resource lives in a module.
// Deploys the app's resource group, the function app and its storage, telemetry, Event Grid wiring and
// exactly the ARM permissions `python -m lifecycle permissions` derives from the policy: the gallery role
// at the galleries' resource groups, VM and scale-set reads at the subscriptions whose machines may use
// the galleries, Image Builder read and run at the templates' resource groups, disk encryption set reads
// at the sets' resource groups.
targetScope = 'subscription'

@description('Name of the environment (azd environment name); seeds resource names and the azd-env-name tag.')
@minLength(1)
@maxLength(64)
param environmentName string

@description('Azure region of the app\'s resources (must offer the Flex Consumption plan).')
param location string

@description('Name of the resource group created for the app; empty means rg-<environmentName>.')
param resourceGroupName string = ''

@description('Name of the existing resource group (in this subscription) that holds the galleries the policy manages (LIFECYCLE_GALLERY_RESOURCE_GROUP). The app gets its gallery role there.')
@minLength(1)
param galleryResourceGroupName string

@description('Names of more existing galleries\' resource groups in this subscription, beyond galleryResourceGroupName.')
param additionalGalleryResourceGroupNames array = []

@description('Resource group (in this subscription) of the Image Builder template the policy\'s rebakes run (rebake.image_template; LIFECYCLE_TEMPLATE_RESOURCE_GROUP); empty when no rebake runs a template. The app may read and run templates there and nowhere else.')
param imageTemplateResourceGroupName string = ''

@description('Names of more Image Builder templates\' resource groups in this subscription.')
param additionalImageTemplateResourceGroupNames array = []

@description('Resource groups (in this subscription) of the disk encryption sets the policy names (replication.disk_encryption_sets): a version update naming a set needs its read (ARM\'s linked check). Empty when no version is encrypted with customer-managed keys.')
param diskEncryptionSetResourceGroupNames array = []

@description('Whether the policy rebakes images when their Marketplace base image has a newer version (rebake.on_base_update; LIFECYCLE_REBAKE_ON_BASE_UPDATE): the app then lists Marketplace image versions, which ARM checks at the subscription.')
param rebakeOnBaseUpdate bool = false

@description('Subscriptions, besides this one, whose VMs and scale sets may use the galleries\' images (the policy\'s galleries[].consumer_subscriptions): the in-use check reads the machines there.')
param consumerSubscriptionIds array = []

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

@description('Object ids of build pipelines allowed to publish ImageLifecycle.BuildCompleted and VersionApproved (EventGrid Data Sender on the builds topic only).')
param eventPublisherPrincipalIds array = []

@description('Tags applied to every resource, in addition to azd-env-name.')
param tags object = {}

@description('E-mail addresses the alerts notify, comma-separated (LIFECYCLE_ALERT_EMAILS); empty for none.')
param alertEmailAddresses string = ''

@description('HTTPS webhook the alerts call with the common alert schema (LIFECYCLE_ALERT_WEBHOOK); empty for none.')
@secure()
param alertWebhookUrl string = ''

@description('Minutes between two sweeps: must match sweepSchedule. The "no sweep" and "deferred work growing" alerts count in these intervals.')
@minValue(1)
@maxValue(720)
param sweepIntervalMinutes int = 15

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var appResourceGroupName = empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
var allTags = union(tags, {
  'azd-env-name': environmentName
})
var functionName = 'on_event'
var deploymentContainerName = 'app-package-${resourceToken}'

var galleryResourceGroupNames = union([galleryResourceGroupName], additionalGalleryResourceGroupNames)
var imageTemplateResourceGroupNames = union(empty(imageTemplateResourceGroupName) ? [] : [imageTemplateResourceGroupName], additionalImageTemplateResourceGroupNames)
var inUseSubscriptionIds = union([subscription().subscriptionId], consumerSubscriptionIds)
var baseImageSubscriptionIds = rebakeOnBaseUpdate ? [subscription().subscriptionId] : []

// The ARM actions, exactly as `python -m lifecycle permissions` lists them per scope
// (tests/infra/test_infra_permissions.py compares the two).
var galleryActions = [
  'Microsoft.Compute/galleries/read'
  'Microsoft.Compute/galleries/images/read'
  'Microsoft.Compute/galleries/images/versions/read'
  'Microsoft.Compute/galleries/images/versions/write'
  'Microsoft.Compute/galleries/images/versions/delete'
]
var inUseActions = [
  'Microsoft.Compute/virtualMachines/read'
  'Microsoft.Compute/virtualMachineScaleSets/read'
  'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read'
]
var templateActions = [
  'Microsoft.VirtualMachineImages/imageTemplates/read'
  'Microsoft.VirtualMachineImages/imageTemplates/run/action'
]
var encryptionActions = [
  'Microsoft.Compute/diskEncryptionSets/read'
]
var baseImageActions = [
  'Microsoft.Compute/locations/publishers/artifacttypes/offers/skus/versions/read'
]

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

module hostStorage 'modules/host-storage.bicep' = {
  name: 'host-storage'
  scope: rg
  params: {
    name: 'sthost${take(resourceToken, 18)}'
    location: location
    skuName: storageSkuName
    publicNetworkAccess: storagePublicNetworkAccess
    tags: allTags
  }
}

module deploymentIdentity 'modules/identity.bicep' = {
  name: 'deployment-identity'
  scope: rg
  params: {
    name: 'id-deploy-${resourceToken}'
    location: location
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

// Two custom topics, so no sender can pass for another: pipelines publish builds and approvals into one
// (the function subscribes to it); only the app publishes lifecycle events into the other.
module buildsTopic 'modules/lifecycle-topic.bicep' = {
  name: 'builds-topic'
  scope: rg
  params: {
    name: 'evgt-builds-${resourceToken}'
    location: location
    publicNetworkAccess: topicPublicNetworkAccess
    deadLetterIdentity: true
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
    deadLetterIdentity: false
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
    deploymentIdentityId: deploymentIdentity.outputs.id
    hostStorageAccountName: hostStorage.outputs.name
    blobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    configContainerName: storage.outputs.configContainerName
    policyBlobName: policyBlobName
    stateContainerName: storage.outputs.stateContainerName
    fanoutQueueName: storage.outputs.fanoutQueueName
    queueEndpoint: storage.outputs.queueEndpoint
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
    topicName: buildsTopic.outputs.name
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

module galleryRole 'modules/role-definition.bicep' = {
  name: 'role-definition-${resourceToken}'
  params: {
    roleName: 'Gallery lifecycle operator (${environmentName}, ${resourceToken})'
    // The key of the role this deployment has always created: an upgrade updates it in place.
    roleKey: 'gallery-lifecycle-operator'
    roleDescription: 'Image lifecycle automation: read galleries and image definitions; read, write and delete image versions.'
    actions: galleryActions
    assignableScopes: [for rgName in galleryResourceGroupNames: '${subscription().id}/resourceGroups/${rgName}']
    nameSeed: '${environmentName}-${resourceToken}'
  }
}

module inUseRole 'modules/role-definition.bicep' = {
  name: 'role-definition-in-use-${resourceToken}'
  params: {
    roleName: 'Gallery lifecycle in-use reader (${environmentName}, ${resourceToken})'
    roleKey: 'gallery-lifecycle-in-use-reader'
    roleDescription: 'Image lifecycle automation: list VMs and scale sets to find the image versions in use.'
    actions: inUseActions
    assignableScopes: [for subscriptionId in inUseSubscriptionIds: '/subscriptions/${subscriptionId}']
    nameSeed: '${environmentName}-${resourceToken}'
  }
}

module templateRole 'modules/role-definition.bicep' = if (!empty(imageTemplateResourceGroupNames)) {
  name: 'role-definition-templates-${resourceToken}'
  params: {
    roleName: 'Gallery lifecycle template runner (${environmentName}, ${resourceToken})'
    roleKey: 'gallery-lifecycle-template-runner'
    roleDescription: 'Image lifecycle automation: read Image Builder templates and start their runs (rebakes).'
    actions: templateActions
    assignableScopes: [for rgName in imageTemplateResourceGroupNames: '${subscription().id}/resourceGroups/${rgName}']
    nameSeed: '${environmentName}-${resourceToken}'
  }
}

module baseImageRole 'modules/role-definition.bicep' = if (rebakeOnBaseUpdate) {
  name: 'role-definition-base-images-${resourceToken}'
  params: {
    roleName: 'Gallery lifecycle base image reader (${environmentName}, ${resourceToken})'
    roleKey: 'gallery-lifecycle-base-image-reader'
    roleDescription: 'Image lifecycle automation: list Marketplace image versions to rebake when a base image has a newer one.'
    actions: baseImageActions
    assignableScopes: [for subscriptionId in baseImageSubscriptionIds: '/subscriptions/${subscriptionId}']
    nameSeed: '${environmentName}-${resourceToken}'
  }
}

module encryptionRole 'modules/role-definition.bicep' = if (!empty(diskEncryptionSetResourceGroupNames)) {
  name: 'role-definition-encryption-${resourceToken}'
  params: {
    roleName: 'Gallery lifecycle encryption set reader (${environmentName}, ${resourceToken})'
    roleKey: 'gallery-lifecycle-encryption-set-reader'
    roleDescription: 'Image lifecycle automation: read the disk encryption sets that encrypted image versions name (checked on every version update).'
    actions: encryptionActions
    assignableScopes: [for rgName in diskEncryptionSetResourceGroupNames: '${subscription().id}/resourceGroups/${rgName}']
    nameSeed: '${environmentName}-${resourceToken}'
  }
}

module appRoles 'modules/roles-app.bicep' = {
  name: 'roles-app'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    hostStorageAccountName: hostStorage.outputs.name
    configContainerName: storage.outputs.configContainerName
    stateContainerName: storage.outputs.stateContainerName
    deploymentContainerName: storage.outputs.deploymentContainerName
    deadLetterContainerName: storage.outputs.deadLetterContainerName
    queueNames: [
      storage.outputs.fanoutQueueName
      storage.outputs.poisonQueueName
    ]
    buildsTopicName: buildsTopic.outputs.name
    lifecycleTopicName: lifecycleTopic.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    appPrincipalId: identity.outputs.principalId
    deploymentPrincipalId: deploymentIdentity.outputs.principalId
    deadLetterWriterPrincipalIds: [
      buildsTopic.outputs.principalId
      policyEvents.outputs.principalId
    ]
    resourceEventsPrincipalIds: [for i in range(0, length(resourceEventTopics)): resourceEvents[i].outputs.principalId]
    policyEditorPrincipalIds: policyEditorPrincipalIds
    eventPublisherPrincipalIds: eventPublisherPrincipalIds
  }
}

module galleryRoles 'modules/roles-resource-group.bicep' = [
  for rgName in galleryResourceGroupNames: {
    name: 'roles-gallery-${uniqueString(rgName)}-${resourceToken}'
    scope: resourceGroup(rgName)
    params: {
      roleAssignments: [
        {
          principalId: identity.outputs.principalId
          roleDefinitionId: galleryRole.outputs.id
          principalType: 'ServicePrincipal'
          description: 'Image lifecycle function app: manage image versions in this resource group\'s galleries.'
        }
      ]
    }
  }
]

module inUseRoles 'modules/roles-subscription.bicep' = [
  for subscriptionId in inUseSubscriptionIds: {
    name: 'roles-in-use-${uniqueString(subscriptionId)}-${resourceToken}'
    scope: subscription(subscriptionId)
    params: {
      roleAssignments: [
        {
          principalId: identity.outputs.principalId
          roleDefinitionId: inUseRole.outputs.id
          principalType: 'ServicePrincipal'
          description: 'Image lifecycle function app: list VMs and scale sets to find image versions in use.'
        }
      ]
    }
  }
]

module baseImageRoles 'modules/roles-subscription.bicep' = [
  for subscriptionId in baseImageSubscriptionIds: {
    name: 'roles-base-images-${uniqueString(subscriptionId)}-${resourceToken}'
    scope: subscription(subscriptionId)
    params: {
      roleAssignments: [
        {
          principalId: identity.outputs.principalId
          roleDefinitionId: baseImageRole.outputs.id
          principalType: 'ServicePrincipal'
          description: 'Image lifecycle function app: list Marketplace image versions (rebake on base update).'
        }
      ]
    }
  }
]

module templateRoles 'modules/roles-resource-group.bicep' = [
  for rgName in imageTemplateResourceGroupNames: {
    name: 'roles-template-${uniqueString(rgName)}-${resourceToken}'
    scope: resourceGroup(rgName)
    params: {
      roleAssignments: [
        {
          principalId: identity.outputs.principalId
          roleDefinitionId: templateRole.outputs.id
          principalType: 'ServicePrincipal'
          description: 'Image lifecycle function app: read and run the Image Builder templates of rebakes.'
        }
      ]
    }
  }
]

module encryptionRoles 'modules/roles-resource-group.bicep' = [
  for rgName in diskEncryptionSetResourceGroupNames: {
    name: 'roles-encryption-${uniqueString(rgName)}-${resourceToken}'
    scope: resourceGroup(rgName)
    params: {
      roleAssignments: [
        {
          principalId: identity.outputs.principalId
          roleDefinitionId: encryptionRole.outputs.id
          principalType: 'ServicePrincipal'
          description: 'Image lifecycle function app: read the disk encryption sets of encrypted image versions.'
        }
      ]
    }
  }
]

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    workspaceId: monitoring.outputs.logAnalyticsId
    namePrefix: 'lifecycle-${resourceToken}'
    emailAddresses: empty(alertEmailAddresses) ? [] : split(replace(alertEmailAddresses, ' ', ''), ',')
    webhookUrl: alertWebhookUrl
    sweepIntervalMinutes: sweepIntervalMinutes
    tags: allTags
  }
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  scope: rg
  params: {
    location: location
    workspaceId: monitoring.outputs.logAnalyticsId
    reportUrl: '${storage.outputs.blobEndpoint}${storage.outputs.stateContainerName}/reports/latest.html'
    tags: allTags
  }
}

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

@description('Endpoint of the topic the app publishes lifecycle events to (subscribe your consumers here).')
output LIFECYCLE_EVENTS_ENDPOINT string = lifecycleTopic.outputs.endpoint

@description('Endpoint of the topic build pipelines publish ImageLifecycle.BuildCompleted and VersionApproved to.')
output LIFECYCLE_BUILDS_ENDPOINT string = buildsTopic.outputs.endpoint

@description('Resource id of the custom role assigned at the galleries\' resource groups.')
output LIFECYCLE_ROLE_DEFINITION_ID string = galleryRole.outputs.id

@description('Principal id of the app\'s identity (the predown hook removes its role assignments outside the app\'s resource group).')
output LIFECYCLE_APP_PRINCIPAL_ID string = identity.outputs.principalId

@description('Token in this environment\'s resource names (the predown hook finds the system topics and custom roles by it).')
output LIFECYCLE_RESOURCE_TOKEN string = resourceToken

@description('Whether the Event Grid subscriptions to the function exist (the postdeploy hook turns them on).')
output LIFECYCLE_SUBSCRIBE_EVENTS bool = subscribeFunctionToEvents
