// Azure Container Registry for the one `trade-nexus` image. No admin user: the apps pull
// with the user-assigned identity (AcrPull) and the deploy workflow pushes with its
// federated GitHub principal (AcrPush).

param location string
param tags object

@description('Globally unique, alphanumeric registry name.')
param name string

@allowed([
  'Basic'
  'Standard'
  'Premium'
])
param sku string

@description('Principal id of the apps identity (AcrPull).')
param pullPrincipalId string

@description('Principal id of the deploy workflow (AcrPush); empty skips the assignment.')
param pushPrincipalId string = ''

@allowed([
  'ServicePrincipal'
  'User'
  'Group'
])
param pushPrincipalType string = 'ServicePrincipal'

var acrPullRoleId = '7f951dda-4ed3-4680-a7ca-43fe172d538d'
var acrPushRoleId = '8311e382-0749-4cb8-b61a-304f252e45ec'

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  //checkov:skip=CKV_AZURE_139: The GitHub-hosted deploy runners push over the public endpoint (no private network path to them); anonymous pull and the admin user are off, so every push and pull needs an Entra ID identity with AcrPush/AcrPull.
  //checkov:skip=CKV_AZURE_166: Quarantine holds every pushed image until an external scanner releases it; no such scanner runs in this deployment, so the apps could never pull. Images are built only by the CI workflow from reviewed commits and tagged with the commit SHA.
  //checkov:skip=CKV_AZURE_163: Image vulnerability scanning is Microsoft Defender for Containers, a subscription-level plan (Microsoft.Security/pricings) outside this resource-group template; docs/deployment.md lists enabling it as a prerequisite.
  //checkov:skip=CKV_AZURE_233: Zone redundancy needs the Premium SKU. The registry is only on the deploy and scale-out path (running replicas keep their image), so a zone outage delays new pulls at most; Standard is chosen for cost and the SKU is a parameter.
  name: name
  location: location
  tags: tags
  sku: {
    name: sku
  }
  properties: {
    adminUserEnabled: false
    anonymousPullEnabled: false
    publicNetworkAccess: 'Enabled'
    zoneRedundancy: 'Disabled'
  }
}

resource pull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, pullPrincipalId, acrPullRoleId)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', acrPullRoleId)
    principalId: pullPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource push 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(pushPrincipalId)) {
  name: guid(registry.id, pushPrincipalId, acrPushRoleId)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', acrPushRoleId)
    principalId: pushPrincipalId
    principalType: pushPrincipalType
  }
}

output name string = registry.name
output loginServer string = registry.properties.loginServer
output id string = registry.id
