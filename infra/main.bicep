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

@description('Whether the policy reads Marketplace base images: rebakes when a base has a newer version or is being deprecated, or caps end-of-life at its deprecation (rebake.on_base_update, rebake.on_base_deprecation, retention.cap_at_base_deprecation; LIFECYCLE_REBAKE_ON_BASE_UPDATE): the app then lists and reads Marketplace image versions, which ARM checks at the subscription.')
param rebakeOnBaseUpdate bool = false

@description('Subscriptions, besides this one, whose VMs and scale sets may use the galleries\' images (the policy\'s galleries[].consumer_subscriptions): the in-use check reads the machines there.')
param consumerSubscriptionIds array = []

@description('Where ARM resource events are taken from: resourceGroup = one Event Grid system topic in each galleries\' resource group; subscription = one subscription-wide system topic (use it when a resource group already has a system topic, since Azure allows one per source).')
@allowed([
  'resourceGroup'
  'subscription'
])
param resourceEventScope string = 'resourceGroup'

@description('Existing Event Grid system topics of ARM resource events to attach the app\'s subscriptions to instead of creating one, comma-separated resource ids: a Microsoft.Resources.ResourceGroups topic in a galleries\' resource group (it lives in the group it watches), or with resourceEventScope=subscription the subscription\'s Microsoft.Resources.Subscriptions topic. Azure allows one system topic per source, so a second environment on the same galleries, or a subscription that already has one, must reuse it. The preprovision hook finds them; each needs a system-assigned identity (it writes dead letters).')
param existingResourceEventTopicIds string = ''

@description('Create the Event Grid subscriptions to the function. Event Grid checks that the function on_event exists: the preprovision hook sets this from whether the deployed app lists on_event, and the postdeploy hook provisions again once it does.')
param subscribeFunctionToEvents bool = false

@description('Make the custom roles\' assignments in this deployment. A role definition (or a scope added to one) takes a while to replicate, and an assignment that races it fails: the preprovision hook sets this only when every role this deployment assigns already exists with every scope it is assigned at, and otherwise the postprovision hook waits for them and provisions again. Without azd leave it true (and run the deployment again if an assignment fails with RoleDefinitionDoesNotExist).')
param roleAssignmentsReady bool = true

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

@description('Upper bound of Flex Consumption instances per function group, not per app (each function here scales on its own). Only reconcile_image writes to ARM (on_event records and enqueues), one image per instance, so this is also the number of image writes in flight: keep it within the write budget\'s 53 (docs/deploy.md#scale-maximuminstancecount).')
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

@description('Build systems that announce finished builds (ImageLifecycle.BuildCompleted): objects {name: 1-25 lowercase letters, digits and hyphens, unique; senderPrincipalIds: object ids of its pipelines}. Each gets its own Event Grid-schema topic evgt-build-<name>-<token>, where only its senderPrincipalIds are EventGrid Data Sender. List the topic ids (output LIFECYCLE_BUILD_SOURCES) in the policy\'s galleries[].build_sources.')
param buildSystems array = []

@description('Object ids allowed to approve versions (ImageLifecycle.VersionApproved): EventGrid Data Sender on the approvals topic evgt-approvals-<token> only. Never a build system\'s sender: a builder does not approve its own builds (the preprovision hook refuses a principal listed on two sender topics). List the topic id (output LIFECYCLE_APPROVAL_SOURCES) in the policy\'s galleries[].approval_sources.')
param approverPrincipalIds array = []

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
  'Microsoft.Resources/tags/write'
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

// Existing system topics to reuse: a resource-group topic lives in the group it watches, so the group in its
// id says which galleries' group it covers.
var reusedTopicIds = filter(split(existingResourceEventTopicIds, ','), id => !empty(id))
var reusedTopicGroups = [for id in reusedTopicIds: toLower(split(id, '/')[4])]
var reusedSubscriptionTopicId = empty(reusedTopicIds) ? '' : reusedTopicIds[0]

var galleryFilters = [
  for rgName in galleryResourceGroupNames: {
    key: uniqueString(rgName)
    subjectPrefix: '/subscriptions/${subscription().subscriptionId}/resourceGroups/${rgName}/providers/Microsoft.Compute/galleries/'
  }
]

// One system topic per galleries' resource group, or one for the whole subscription.
var resourceGroupTopics = [
  for (rgName, i) in galleryResourceGroupNames: {
    existingTopicId: contains(reusedTopicGroups, toLower(rgName)) ? reusedTopicIds[indexOf(reusedTopicGroups, toLower(rgName))] : ''
    subscriptionId: subscription().subscriptionId
    topicGroupName: rgName
    topicType: 'Microsoft.Resources.ResourceGroups'
    source: '${subscription().id}/resourceGroups/${rgName}'
    subjectFilters: [
      galleryFilters[i]
    ]
  }
]
var subscriptionTopics = [
  {
    existingTopicId: reusedSubscriptionTopicId
    subscriptionId: empty(reusedSubscriptionTopicId) ? subscription().subscriptionId : split(reusedSubscriptionTopicId, '/')[2]
    topicGroupName: empty(reusedSubscriptionTopicId) ? appResourceGroupName : split(reusedSubscriptionTopicId, '/')[4]
    topicType: 'Microsoft.Resources.Subscriptions'
    source: subscription().id
    subjectFilters: galleryFilters
  }
]
var resourceEventTopics = resourceEventScope == 'subscription' ? subscriptionTopics : resourceGroupTopics

// Every scope a custom role of this deployment is assignable at (the hooks walk them to clean up).
var galleryScopes = [for rgName in galleryResourceGroupNames: '${subscription().id}/resourceGroups/${rgName}']
var inUseScopes = [for subscriptionId in inUseSubscriptionIds: '/subscriptions/${subscriptionId}']
var templateScopes = [for rgName in imageTemplateResourceGroupNames: '${subscription().id}/resourceGroups/${rgName}']
var baseImageScopes = [for subscriptionId in baseImageSubscriptionIds: '/subscriptions/${subscriptionId}']
var encryptionScopes = [for rgName in diskEncryptionSetResourceGroupNames: '${subscription().id}/resourceGroups/${rgName}']
var roleScopes = union(galleryScopes, inUseScopes, templateScopes, baseImageScopes, encryptionScopes)

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

// Only the app publishes lifecycle events into this topic; builds and approvals come in through topics of
// their own, one per sender (below), so no sender can pass for another.
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

// One Event Grid-schema topic per build system and one for the approvers. Event Grid stamps each event with
// the topic it came through, so the policy's build_sources and approval_sources tell senders apart.
module buildTopics 'modules/sender-topic.bicep' = [
  for system in buildSystems: {
    name: 'build-topic-${system.name}-${resourceToken}'
    scope: rg
    params: {
      name: 'evgt-build-${system.name}-${resourceToken}'
      location: location
      publicNetworkAccess: topicPublicNetworkAccess
      eventTypes: [
        'ImageLifecycle.BuildCompleted'
      ]
      functionAppId: functionApp.outputs.id
      functionName: functionName
      subscribeFunction: subscribeFunctionToEvents
      subscriptionName: 'build-completed-${resourceToken}'
      deadLetterStorageId: storage.outputs.id
      deadLetterContainerName: storage.outputs.deadLetterContainerName
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
      tags: allTags
    }
  }
]

module buildSenders 'modules/roles-sender-topic.bicep' = [
  for (system, i) in buildSystems: {
    name: 'build-senders-${system.name}-${resourceToken}'
    scope: rg
    params: {
      topicName: buildTopics[i].outputs.name
      senderPrincipalIds: system.senderPrincipalIds
      purpose: 'Build system ${system.name}: publishes ImageLifecycle.BuildCompleted.'
    }
  }
]

module approvalsTopic 'modules/sender-topic.bicep' = {
  name: 'approvals-topic-${resourceToken}'
  scope: rg
  params: {
    name: 'evgt-approvals-${resourceToken}'
    location: location
    publicNetworkAccess: topicPublicNetworkAccess
    eventTypes: [
      'ImageLifecycle.VersionApproved'
    ]
    functionAppId: functionApp.outputs.id
    functionName: functionName
    subscribeFunction: subscribeFunctionToEvents
    subscriptionName: 'version-approved-${resourceToken}'
    deadLetterStorageId: storage.outputs.id
    deadLetterContainerName: storage.outputs.deadLetterContainerName
    maxDeliveryAttempts: maxDeliveryAttempts
    eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    tags: allTags
  }
}

module approvalSenders 'modules/roles-sender-topic.bicep' = {
  name: 'approval-senders-${resourceToken}'
  scope: rg
  params: {
    topicName: approvalsTopic.outputs.name
    senderPrincipalIds: approverPrincipalIds
    purpose: 'Approver: publishes ImageLifecycle.VersionApproved.'
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
    // A reused topic may live in another group (a subscription topic): its module goes where it is.
    scope: resourceGroup(topic.subscriptionId, topic.topicGroupName)
    dependsOn: [
      rg
    ]
    params: {
      topicName: 'evgst-galleries-${resourceToken}'
      existingTopicName: empty(topic.existingTopicId) ? '' : last(split(topic.existingTopicId, '/'))
      subscriptionSuffix: resourceToken
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
    lifecycleTopicName: lifecycleTopic.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    appPrincipalId: identity.outputs.principalId
    deploymentPrincipalId: deploymentIdentity.outputs.principalId
    deadLetterWriterPrincipalIds: [
      approvalsTopic.outputs.principalId
      policyEvents.outputs.principalId
    ]
    senderTopicPrincipalIds: [for i in range(0, length(buildSystems)): buildTopics[i].outputs.principalId]
    resourceEventsPrincipalIds: [for i in range(0, length(resourceEventTopics)): resourceEvents[i].outputs.principalId]
    policyEditorPrincipalIds: policyEditorPrincipalIds
  }
}

module galleryRoles 'modules/roles-resource-group.bicep' = [
  for rgName in galleryResourceGroupNames: if (roleAssignmentsReady) {
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
  for subscriptionId in inUseSubscriptionIds: if (roleAssignmentsReady) {
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
  for subscriptionId in baseImageSubscriptionIds: if (roleAssignmentsReady) {
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
  for rgName in imageTemplateResourceGroupNames: if (roleAssignmentsReady) {
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
  for rgName in diskEncryptionSetResourceGroupNames: if (roleAssignmentsReady) {
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

@description('Resource ids of the build systems\' topics, in the order of buildSystems: the values for the policy\'s galleries[].build_sources.')
output LIFECYCLE_BUILD_SOURCES array = [for i in range(0, length(buildSystems)): buildTopics[i].outputs.id]

@description('Each build system\'s topic: its name, resource id and the endpoint its pipelines publish ImageLifecycle.BuildCompleted to (Event Grid schema).')
output LIFECYCLE_BUILD_TOPICS array = [
  for (system, i) in buildSystems: {
    name: system.name
    id: buildTopics[i].outputs.id
    endpoint: buildTopics[i].outputs.endpoint
  }
]

@description('Resource id of the approvals topic: the value for the policy\'s galleries[].approval_sources.')
output LIFECYCLE_APPROVAL_SOURCES array = [
  approvalsTopic.outputs.id
]

@description('Endpoint approvers publish ImageLifecycle.VersionApproved to (Event Grid schema).')
output LIFECYCLE_APPROVALS_ENDPOINT string = approvalsTopic.outputs.endpoint

@description('Resource id of the custom role assigned at the galleries\' resource groups.')
output LIFECYCLE_ROLE_DEFINITION_ID string = galleryRole.outputs.id

@description('Principal id of the app\'s identity (the predown hook removes its role assignments outside the app\'s resource group).')
output LIFECYCLE_APP_PRINCIPAL_ID string = identity.outputs.principalId

@description('Token in this environment\'s resource names (the predown hook finds the system topics and custom roles by it).')
output LIFECYCLE_RESOURCE_TOKEN string = resourceToken

@description('Resource id of the function app (the preprovision hook checks that it still exists where the environment points).')
output LIFECYCLE_FUNCTION_APP_ID string = functionApp.outputs.id

@description('Whether this deployment made the Event Grid subscriptions to the function (the postdeploy hook provisions again when it did not).')
output LIFECYCLE_EVENTS_SUBSCRIBED bool = subscribeFunctionToEvents

@description('The ARM resource-event system topics the subscriptions are on, created or reused (predown removes this environment\'s subscriptions from them).')
output LIFECYCLE_RESOURCE_EVENT_TOPIC_IDS array = [for i in range(0, length(resourceEventTopics)): resourceEvents[i].outputs.id]

@description('Every scope a custom role of this deployment is assignable at (the hooks walk them: removed scopes lose their assignments first, and predown removes them all).')
output LIFECYCLE_ROLE_SCOPES array = roleScopes

@description('Whether the custom roles\' assignments were left for the next provision, because a role or one of its scopes was new (the postprovision hook waits for them and provisions again).')
output LIFECYCLE_ROLE_ASSIGNMENTS_DEFERRED bool = !roleAssignmentsReady
