// User-assigned managed identity shared by every container app: it pulls images from the
// registry, reads Key Vault secrets and reads/writes blobs. Its client id reaches the apps
// as AZURE_CLIENT_ID so DefaultAzureCredential picks it.

@description('Resource name prefix, nexus-<environment>.')
param prefix string

param location string
param tags object

resource apps 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${prefix}-apps'
  location: location
  tags: tags
}

output id string = apps.id
output principalId string = apps.properties.principalId
output clientId string = apps.properties.clientId
output name string = apps.name
