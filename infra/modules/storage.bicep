// The app's own storage account: the policy, run state, Event Grid dead letters, the deployment package and
// the Functions host (AzureWebJobsStorage). Identity-only access: shared keys and anonymous reads are off.

@description('Name of the storage account (3-24 lowercase letters and digits, globally unique).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region of the storage account.')
param location string

@description('Replication of the account. ZRS keeps the policy and state readable through a zone outage.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
  'Standard_RAGRS'
  'Standard_RAGZRS'
])
param skuName string = 'Standard_ZRS'

@description('Public network access to the account. Disabled requires VNet integration of the function app and private endpoints, which this template does not create.')
@allowed([
  'Enabled'
  'Disabled'
])
param publicNetworkAccess string = 'Enabled'

@description('Container holding the lifecycle policy document that ops edit.')
param configContainerName string = 'lifecycle-config'

@description('Container holding run state, leases and the audit log.')
param stateContainerName string = 'lifecycle-state'

@description('Container Event Grid dead-letters undeliverable events into.')
param deadLetterContainerName string = 'deadletter'

@description('Container the Flex Consumption plan deploys the function package from.')
param deploymentContainerName string

@description('Days deleted blobs and containers stay recoverable (soft delete).')
@minValue(1)
@maxValue(365)
param softDeleteRetentionDays int = 14

@description('Days previous blob versions are kept before the lifecycle rule deletes them (versioning keeps every policy edit).')
@minValue(1)
param versionRetentionDays int = 90

@description('Days dead-lettered events are kept before the lifecycle rule deletes them.')
@minValue(1)
param deadLetterRetentionDays int = 30

@description('Tags applied to the account.')
param tags object = {}

// Network rules: the account must stay reachable from the Flex Consumption workers (no VNet here) and from
// Event Grid dead-lettering, which comes in as a trusted Azure service with a managed identity.
resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35:Public network access is a parameter. Without VNet integration the Flex Consumption workers reach the account over its public endpoint; access is Entra-only (shared keys off, no anonymous blobs).
  // checkov:skip=CKV_AZURE_59:Public network access is a parameter (publicNetworkAccess); Disabled needs VNet integration and private endpoints, which are left to the deployer.
  // checkov:skip=CKV_AZURE_206:ZRS by default (skuName is a parameter): the policy also lives in source control and run state is rebuilt from ARM by the next sweep, so geo-replication is optional.
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: publicNetworkAccess
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: publicNetworkAccess == 'Enabled' ? 'Allow' : 'Deny'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
          keyType: 'Account'
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
        file: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    // Versioning plus soft delete: an overwritten or deleted policy can be brought back.
    isVersioningEnabled: true
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteRetentionDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteRetentionDays
    }
  }
}

resource configContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: configContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource stateContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: stateContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deadLetterContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

// State blobs are rewritten every sweep: without this rule versioning would keep every copy forever.
resource lifecycleRules 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'expire-previous-versions'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
            }
            actions: {
              version: {
                delete: {
                  daysAfterCreationGreaterThan: versionRetentionDays
                }
              }
            }
          }
        }
        {
          name: 'expire-dead-letters'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${deadLetterContainerName}/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: deadLetterRetentionDays
                }
              }
            }
          }
        }
      ]
    }
  }
}

@description('Queue the timer sweep fans out into: one message per image definition; the queue function reconciles each. The Functions host adds `<name>-poison` for messages it gives up on.')
param fanoutQueueName string = 'lifecycle-images'

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource fanoutQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: fanoutQueueName
}

// Created here rather than by the host, so the app's queue role can be scoped to exactly these two queues.
resource poisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: '${fanoutQueueName}-poison'
}

@description('Resource id of the storage account.')
output id string = storage.id

@description('Name of the fan-out queue.')
output fanoutQueueName string = fanoutQueue.name

@description('Name of the fan-out queue\'s poison queue.')
output poisonQueueName string = poisonQueue.name

@description('Queue endpoint of the account, with a trailing slash.')
output queueEndpoint string = storage.properties.primaryEndpoints.queue

@description('Name of the storage account.')
output name string = storage.name

@description('Blob endpoint of the account, with a trailing slash (sovereign clouds differ).')
output blobEndpoint string = storage.properties.primaryEndpoints.blob

@description('Name of the container holding the policy.')
output configContainerName string = configContainer.name

@description('Name of the container holding run state.')
output stateContainerName string = stateContainer.name

@description('Name of the dead-letter container.')
output deadLetterContainerName string = deadLetterContainer.name

@description('Name of the deployment package container.')
output deploymentContainerName string = deploymentContainer.name
