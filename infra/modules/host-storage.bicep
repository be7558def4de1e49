// The Functions host's own storage account (AzureWebJobsStorage: host locks, timer schedule state, keys).
// Apart from the app's data account, because the host needs rights over the whole account (it creates its
// containers), while the app may only read its policy and write its state there.
// Identity-only access: shared keys and anonymous reads are off.

@description('Name of the storage account (3-24 lowercase letters and digits, globally unique).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region of the storage account.')
param location string

@description('Replication of the account. The host keeps only locks and timer state, rebuilt on restart.')
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

@description('Tags applied to the account.')
param tags object = {}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35:Public network access is a parameter. Without VNet integration the Flex Consumption workers reach the account over its public endpoint; access is Entra-only (shared keys off, no anonymous blobs).
  // checkov:skip=CKV_AZURE_59:Public network access is a parameter (publicNetworkAccess); Disabled needs VNet integration and private endpoints, which are left to the deployer.
  // checkov:skip=CKV_AZURE_206:ZRS by default (skuName is a parameter): the host's locks and timer state are rebuilt by the host, so geo-replication buys nothing.
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

@description('Resource id of the storage account.')
output id string = storage.id

@description('Name of the storage account.')
output name string = storage.name
