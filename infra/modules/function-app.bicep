// The function app on a Flex Consumption plan (Linux, Python 3.11), running as the user-assigned identity.
// Every connection is identity-based: the host storage, the deployment package, telemetry, ARM and Event Grid.

@description('Name of the function app (globally unique host name).')
param name string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Azure region of the plan and the app.')
param location string

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Client id of the user-assigned identity (AZURE_CLIENT_ID and AzureWebJobsStorage__clientId).')
param identityClientId string

@description('Resource id of the user-assigned identity the platform reads and writes the deployment package with (the app\'s own identity has no access to the package).')
param deploymentIdentityId string

@description('Name of the Functions host\'s storage account (AzureWebJobsStorage).')
param hostStorageAccountName string

@description('Blob endpoint of the app\'s storage account, with a trailing slash.')
param blobEndpoint string

@description('Container the Flex Consumption plan deploys the package from.')
param deploymentContainerName string

@description('Container holding the policy document.')
param configContainerName string

@description('Blob name of the policy document inside the config container.')
param policyBlobName string

@description('Container holding run state, leases and the audit log.')
param stateContainerName string

@description('Endpoint of the custom Event Grid topic lifecycle events are published to.')
param eventsEndpoint string

@description('NCRONTAB schedule of the reconcile sweep timer.')
param sweepSchedule string

@description('Application Insights connection string.')
param applicationInsightsConnectionString string

@description('Upper bound of Flex Consumption instances per function group, not per app (each function here scales on its own). Only reconcile_image writes to ARM (on_event records and enqueues), one image per instance, so this is also the number of image writes in flight: keep it within the write budget\'s 53 (docs/deploy.md#scale-maximuminstancecount).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory per instance in MB (Flex Consumption sizes 512, 2048 or 4096).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Queue the sweep fans out into (in the app\'s data storage account, beside the policy).')
param fanoutQueueName string

@description('Queue endpoint of the app\'s data storage account (the queue trigger\'s identity-based LIFECYCLE_QUEUE connection).')
param queueEndpoint string

@description('Tries of a fan-out message before the host moves it to the poison queue; host.json extensions.queues.maxDequeueCount says the same.')
param queueMaxDequeueCount int = 5

@description('Extra app settings merged over the generated ones (for example LIFECYCLE_* tuning).')
param extraAppSettings object = {}

@description('Tags applied to the plan and the app; the app also gets the azd service tag.')
param tags object = {}

@description('azd service name the app is tagged with, so `azd deploy` finds its host.')
param serviceName string = 'lifecycle'

var armEndpoint = environment().resourceManager
// environment().resourceManager ends with a slash; the app joins paths onto the bare endpoint.
var armEndpointTrimmed = endsWith(armEndpoint, '/') ? substring(armEndpoint, 0, length(armEndpoint) - 1) : armEndpoint

var generatedAppSettings = {
  LIFECYCLE_CONFIG_URL: '${blobEndpoint}${configContainerName}/${policyBlobName}'
  LIFECYCLE_STATE_URL: '${blobEndpoint}${stateContainerName}'
  LIFECYCLE_ARM_ENDPOINT: armEndpointTrimmed
  LIFECYCLE_EVENTS_ENDPOINT: eventsEndpoint
  LIFECYCLE_SWEEP_SCHEDULE: sweepSchedule
  LIFECYCLE_FANOUT_QUEUE: fanoutQueueName
  // The queue trigger's connection: the data account's queue service, with the app's identity.
  LIFECYCLE_QUEUE__queueServiceUri: queueEndpoint
  LIFECYCLE_QUEUE__credential: 'managedidentity'
  LIFECYCLE_QUEUE__clientId: identityClientId
  LIFECYCLE_QUEUE_MAX_DEQUEUE: string(queueMaxDequeueCount)
  // DefaultAzureCredential picks the user-assigned identity by this id.
  AZURE_CLIENT_ID: identityClientId
  AzureWebJobsStorage__accountName: hostStorageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // The Python worker configures the Azure Monitor OpenTelemetry distro (azure-monitor-opentelemetry in
  // requirements.txt) for the app's loggers under `lifecycle`: their `extra` fields become custom dimensions
  // and the app's OpenTelemetry metrics reach AppMetrics (lifecycle/telemetry.py; docs/operate.md).
  PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY: 'true'
  PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME: 'lifecycle'
  // On Python 3.10-3.12 the worker loads its own bundled azure-functions unless told to prefer the app's:
  // the Event Grid trigger's CloudEvents need the app's azure-functions >= 1.25
  // (Azure/azure-functions-python-worker#1642). The app checks the version it got at start-up.
  PYTHON_ISOLATE_WORKER_DEPENDENCIES: '1'
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225:Flex Consumption zone redundancy exists only in some regions; an outage delays reconciliation, which the sweep timer catches up on, without losing state.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222:Event Grid delivers to the function over the public endpoint; the app has no HTTP functions and delivery is protected by the eventgrid system key.
  // checkov:skip=CKV_AZURE_17:Event Grid delivery presents no client certificate; requiring one would stop every event.
  // checkov:skip=CKV_AZURE_212:Flex Consumption scales from zero by design; the sweep timer and Event Grid retries cover a cold or lost instance.
  // checkov:skip=CKV_AZURE_78:Flex Consumption refuses siteConfig.ftpsState on newer stamps (ARM error 51021); FTP is off through the ftp basicPublishingCredentialsPolicies (allow false) below.
  // checkov:skip=CKV_AZURE_213:Health check probes an HTTP path; the app has no HTTP functions and Flex Consumption scales to zero.
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': serviceName
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
      '${deploymentIdentityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      // No ftpsState: Flex Consumption refuses it on newer stamps (ARM error 51021, "site configuration
      // properties ... for Flex Consumption sites is invalid"); FTP publishing is off below instead.
      http20Enabled: true
      remoteDebuggingEnabled: false
      appSettings: [
        for setting in items(union(generatedAppSettings, extraAppSettings)): {
          name: setting.key
          value: setting.value
        }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: deploymentIdentityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// Deployments use Entra tokens; publishing with basic credentials is switched off.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

@description('Resource id of the function app.')
output id string = site.id

@description('Name of the function app.')
output name string = site.name

@description('Default host name of the function app.')
output defaultHostName string = site.properties.defaultHostName
