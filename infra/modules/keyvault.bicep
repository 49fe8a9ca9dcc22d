// Key Vault holding every application secret. RBAC authorization only (no access
// policies), soft delete and purge protection on. The template creates no secret values:
// operators set them (docs/deployment.md) and the apps reference them by URL.

param location string
param tags object

@description('Globally unique vault name, 3-24 characters.')
param name string

@description('Principal id of the apps identity (Key Vault Secrets User).')
param readerPrincipalId string

@description('Principal (user or group) that sets secrets (Key Vault Secrets Officer); empty skips it.')
param officerPrincipalId string = ''

@allowed([
  'ServicePrincipal'
  'User'
  'Group'
])
param officerPrincipalType string = 'Group'

@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

var secretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6'
var secretsOfficerRoleId = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  //checkov:skip=CKV_AZURE_109: Container Apps resolve Key Vault references from the platform, not from the environment's subnet, and are not a trusted service that may bypass the vault firewall, so a deny-by-default firewall fails every revision. Access is Entra ID RBAC only: the apps identity reads, operators set.
  //checkov:skip=CKV_AZURE_189: Same reason as CKV_AZURE_109: the Container Apps platform resolves references over the public endpoint; authorization is Entra ID RBAC only, no access policies, purge protection on.
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, readerPrincipalId, secretsUserRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUserRoleId)
    principalId: readerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource officer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(officerPrincipalId)) {
  name: guid(vault.id, officerPrincipalId, secretsOfficerRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsOfficerRoleId)
    principalId: officerPrincipalId
    principalType: officerPrincipalType
  }
}

output name string = vault.name
output id string = vault.id
// Ends with a slash: https://<name>.vault.azure.net/
output uri string = vault.properties.vaultUri
