// Storage account for asset data (container `assets`, NEXUS_DATA_DIR=az://assets/data) and
// MLflow artifacts (container `mlflow`, written by the MLflow server only). Entra ID only:
// shared keys are disabled, so every client authenticates with the apps identity.

param location string
param tags object

@description('Globally unique, lowercase alphanumeric name, 3-24 characters.')
param name string

@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
@description('Geo-zone-redundant by default (prod); dev.bicepparam chooses Standard_LRS, its data being reproducible.')
param skuName string = 'Standard_GZRS'

@description('Subnet whose traffic passes the account firewall (the Container Apps environment).')
param appsSubnetId string

@description('Principal id of the apps identity (Storage Blob Data Contributor).')
param contributorPrincipalId string

@minValue(1)
@maxValue(365)
param deleteRetentionDays int

var blobDataContributorRoleId = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  //checkov:skip=CKV_AZURE_206: Replication is chosen per environment through skuName: prod.bicepparam sets Standard_GZRS (geo-zone-redundant, also the module default); dev uses Standard_LRS because its data is rebuilt from the sources. Checkov resolves the parameter inconsistently from run to run.
  //checkov:skip=CKV_AZURE_59: Public network access must stay enabled for the apps subnet's service endpoint; the firewall denies every other network by default (networkAcls.defaultAction Deny) and no blob is public.
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    isLocalUserEnabled: false
    isSftpEnabled: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Deny'
      bypass: 'AzureServices'
      virtualNetworkRules: [
        {
          id: appsSubnetId
          action: 'Allow'
        }
      ]
      ipRules: []
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
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

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: deleteRetentionDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: deleteRetentionDays
    }
  }
}

resource assets 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobs
  name: 'assets'
  properties: {
    publicAccess: 'None'
  }
}

resource mlflow 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobs
  name: 'mlflow'
  properties: {
    publicAccess: 'None'
  }
}

resource contributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, contributorPrincipalId, blobDataContributorRoleId)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributorRoleId)
    principalId: contributorPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output name string = account.name
output id string = account.id
output blobEndpoint string = account.properties.primaryEndpoints.blob
output assetsContainer string = assets.name
output mlflowContainer string = mlflow.name
