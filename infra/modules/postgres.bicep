// PostgreSQL Flexible Server with the three databases: `dagster` (Dagster instance storage),
// `mlflow` (MLflow tracking store and model registry) and `audit` (decision audit log).
// VNet-injected: no public endpoint; TLS 1.2+ required on every connection.

param prefix string
param location string
param tags object

@description('Server name, globally unique.')
param name string

param delegatedSubnetId string
param privateDnsZoneId string

@description('Administrator login (password authentication; the apps use per-database URLs from Key Vault).')
param administratorLogin string

@secure()
@description('Administrator password: required when the server is created, empty on later deployments (the server keeps its password).')
param administratorLoginPassword string = ''

param skuName string

@allowed([
  'Burstable'
  'GeneralPurpose'
  'MemoryOptimized'
])
param skuTier string

@minValue(32)
param storageSizeGB int

@minValue(7)
@maxValue(35)
param backupRetentionDays int

@description('Enabled by default; dev.bicepparam turns it off to save cost.')
@allowed([
  'Enabled'
  'Disabled'
])
param geoRedundantBackup string = 'Enabled'

@allowed([
  'Disabled'
  'ZoneRedundant'
  'SameZone'
])
param highAvailability string

var databases = [
  'dagster'
  'mlflow'
  'audit'
]

// Server parameters hardened beyond the defaults (applied one at a time: the service
// rejects concurrent configuration updates).
var settings = {
  require_secure_transport: 'on'
  ssl_min_protocol_version: 'TLSv1.2'
  log_checkpoints: 'on'
  log_connections: 'on'
  log_disconnections: 'on'
}

resource server 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: name
  location: location
  tags: union(tags, {
    'nexus-prefix': prefix
  })
  sku: {
    name: skuName
    tier: skuTier
  }
  properties: {
    version: '16'
    administratorLogin: administratorLogin
    administratorLoginPassword: empty(administratorLoginPassword) ? null : administratorLoginPassword
    authConfig: {
      activeDirectoryAuth: 'Disabled'
      passwordAuth: 'Enabled'
    }
    storage: {
      storageSizeGB: storageSizeGB
      autoGrow: 'Enabled'
    }
    backup: {
      backupRetentionDays: backupRetentionDays
      geoRedundantBackup: geoRedundantBackup
    }
    highAvailability: {
      mode: highAvailability
    }
    network: {
      delegatedSubnetResourceId: delegatedSubnetId
      privateDnsZoneArmResourceId: privateDnsZoneId
      publicNetworkAccess: 'Disabled'
    }
  }
}

@batchSize(1)
resource configurations 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = [for setting in items(settings): {
  parent: server
  name: setting.key
  properties: {
    value: setting.value
    source: 'user-override'
  }
}]

resource dbs 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = [for db in databases: {
  parent: server
  name: db
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
}]

output name string = server.name
output fqdn string = server.properties.fullyQualifiedDomainName
output databases array = databases
