// Container Apps environment (workload profiles, Consumption profile) injected into the
// VNet's apps subnet, with console and system logs sent to Log Analytics.

param prefix string
param location string
param tags object

param logAnalyticsWorkspaceId string
param infrastructureSubnetId string

@description('Spread replicas over availability zones (needs a region with zones).')
param zoneRedundant bool

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: last(split(logAnalyticsWorkspaceId, '/'))
}

resource environment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: '${prefix}-env'
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: workspace.properties.customerId
        sharedKey: workspace.listKeys().primarySharedKey
      }
    }
    vnetConfiguration: {
      infrastructureSubnetId: infrastructureSubnetId
      // External: the decision service has a public HTTPS endpoint. Apps with internal
      // ingress (MLflow, code server, webserver by default) stay reachable only inside
      // the environment.
      internal: false
    }
    workloadProfiles: [
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
    ]
    zoneRedundant: zoneRedundant
  }
}

output id string = environment.id
output name string = environment.name
output defaultDomain string = environment.properties.defaultDomain
