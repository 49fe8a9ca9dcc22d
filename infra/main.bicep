// Trade Nexus on Azure Container Apps: registry, Log Analytics, VNet, Container Apps
// environment, PostgreSQL Flexible Server (dagster, mlflow, audit), storage for asset data
// and MLflow artifacts, Key Vault for every secret, and the five apps that run the one
// `trade-nexus` image in their roles. Deployed per environment with
// `az deployment group create --template-file infra/main.bicep --parameters infra/environments/<env>.bicepparam`.
targetScope = 'resourceGroup'

// ---------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------

@description('Environment name; resource names derive from nexus-<environmentName>.')
@allowed([
  'dev'
  'prod'
])
param environmentName string

@description('Azure region of every resource.')
param location string = resourceGroup().location

@description('Tag (git SHA) of trade-nexus in the registry; empty deploys a public placeholder image so the first deployment works before any image is pushed.')
param imageTag string = ''

@description('Create the container apps. The very first deployment sets this to false, operators then fill Key Vault, and the next deployment creates the apps (an app whose Key Vault secret is missing fails to provision).')
param deployApps bool = true

@description('Object id of the GitHub OIDC principal of the deploy workflow (gets AcrPush); empty skips the assignment.')
param deployPrincipalId string = ''

@allowed([
  'ServicePrincipal'
  'User'
  'Group'
])
param deployPrincipalType string = 'ServicePrincipal'

@description('Object id of the operators (user or group) who set Key Vault secrets (Key Vault Secrets Officer); empty skips it.')
param secretsOfficerPrincipalId string = ''

@allowed([
  'ServicePrincipal'
  'User'
  'Group'
])
param secretsOfficerPrincipalType string = 'Group'

@description('Tags added to every resource.')
param tags object = {}

// Network
param vnetAddressPrefix string
param appsSubnetPrefix string
param postgresSubnetPrefix string

@description('Spread the Container Apps environment over availability zones.')
param zoneRedundant bool

// Observability
@minValue(30)
@maxValue(730)
param logRetentionDays int

// Registry
@allowed([
  'Basic'
  'Standard'
  'Premium'
])
param registrySku string = 'Standard'

// Storage
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param storageSku string

@minValue(1)
@maxValue(365)
param blobDeleteRetentionDays int

// PostgreSQL
@description('PostgreSQL administrator login.')
param postgresAdminLogin string = 'nexusadmin'

@secure()
@description('PostgreSQL administrator password: pass it on the command line for the first deployment only (never in a parameter file); later deployments leave it empty and the server keeps its password.')
param postgresAdminPassword string = ''

@description('Role the Dagster apps log in as (DAGSTER_PG_USERNAME); empty means the administrator login.')
param dagsterPgUsername string = ''

param postgresSkuName string

@allowed([
  'Burstable'
  'GeneralPurpose'
  'MemoryOptimized'
])
param postgresSkuTier string

@minValue(32)
param postgresStorageGB int

@minValue(7)
@maxValue(35)
param postgresBackupRetentionDays int

@allowed([
  'Enabled'
  'Disabled'
])
param postgresGeoRedundantBackup string

@allowed([
  'Disabled'
  'ZoneRedundant'
  'SameZone'
])
param postgresHighAvailability string

// Decision service scaling
@minValue(0)
@maxValue(3)
param servingMinReplicas int

@minValue(1)
@maxValue(3)
param servingMaxReplicas int

@description('Concurrent HTTP requests per replica before another replica is added.')
@minValue(1)
param servingConcurrentRequests int

// Dagster webserver access
@description('Entra ID app registration (client id) for built-in authentication of the Dagster webserver; empty keeps its ingress internal to the environment.')
param webserverAuthClientId string = ''

@description('CIDR ranges allowed to reach the Dagster webserver when its ingress is external; empty allows every address (authentication still applies).')
param webserverAllowedIpRanges array = []

// Optional integrations: a disabled one needs no Key Vault secret and stays unset in the apps.
@description('Grok sentiment and strategy review (XAI_API_KEY); off means the offline fallback.')
param enableXai bool = true

@description('LangSmith tracing (LANGSMITH_API_KEY, LANGSMITH_PROJECT).')
param enableLangSmith bool = true

@description('Publishing allocations to the Live Engine (LIVE_ENGINE_URL, LIVE_ENGINE_API_KEY).')
param enableLiveEngine bool = true

// ---------------------------------------------------------------------------------------
// Names and shared settings
// ---------------------------------------------------------------------------------------

var prefix = 'nexus-${environmentName}'
var suffix = uniqueString(resourceGroup().id)
var allTags = union(tags, {
  application: 'trade-nexus'
  environment: environmentName
})

var registryName = 'nexus${environmentName}${suffix}'
var storageAccountName = 'nexus${environmentName}${take(suffix, 10)}'
var keyVaultName = '${prefix}-${take(suffix, 8)}'
var postgresServerName = '${prefix}-pg-${take(suffix, 6)}'

var servingAppName = '${prefix}-serving'
var webserverAppName = '${prefix}-webserver'
var daemonAppName = '${prefix}-daemon'
var codeServerAppName = '${prefix}-code'
var mlflowAppName = '${prefix}-mlflow'

var servingPort = 8000
var webserverPort = 3000
var codeServerPort = 4000
var mlflowPort = 5000

// Before the first image is pushed every app runs this public sample (listening on 80).
var placeholderImage = 'mcr.microsoft.com/k8se/quickstart:latest'
var usePlaceholder = empty(imageTag)
var image = usePlaceholder ? placeholderImage : '${registry.outputs.loginServer}/trade-nexus:${imageTag}'

var dagsterHome = '/opt/dagster/home'
var dagsterUser = empty(dagsterPgUsername) ? postgresAdminLogin : dagsterPgUsername

// Key Vault secret names, by the environment variable they become. Values are set by
// operators (docs/deployment.md); the apps reference them by URL, never by value.
var databaseSecrets = {
  DAGSTER_PG_PASSWORD: 'dagster-pg-password'
  MLFLOW_BACKEND_STORE_URI: 'mlflow-backend-store-uri'
  NEXUS_AUDIT_DATABASE_URL: 'nexus-audit-database-url'
}

var servingSecrets = {
  NEXUS_API_TOKENS: 'nexus-api-tokens'
  NEXUS_AUDIT_DATABASE_URL: databaseSecrets.NEXUS_AUDIT_DATABASE_URL
}

var lonaSecrets = {
  LONA_GATEWAY_URL: 'lona-gateway-url'
  LONA_AGENT_TOKEN: 'lona-agent-token'
  LONA_AGENT_ID: 'lona-agent-id'
}

var xaiSecrets = {
  XAI_API_KEY: 'xai-api-key'
}

var langSmithSecrets = {
  LANGSMITH_API_KEY: 'langsmith-api-key'
  LANGSMITH_PROJECT: 'langsmith-project'
}

// The order ledger (what was sent to the Live Engine) lives in the decision store's database.
var liveEngineSecrets = {
  LIVE_ENGINE_URL: 'live-engine-url'
  LIVE_ENGINE_API_KEY: 'live-engine-api-key'
  NEXUS_LEDGER_DATABASE_URL: databaseSecrets.NEXUS_AUDIT_DATABASE_URL
}

// The code server runs the sensors and (default run launcher) the runs: it needs every
// pipeline secret. The webserver and the daemon only need the Dagster database.
var dagsterSecrets = {
  DAGSTER_PG_PASSWORD: databaseSecrets.DAGSTER_PG_PASSWORD
}

var codeServerSecrets = union(dagsterSecrets, lonaSecrets, enableXai ? xaiSecrets : {}, enableLangSmith ? langSmithSecrets : {}, enableLiveEngine ? liveEngineSecrets : {})

var mlflowSecrets = {
  MLFLOW_BACKEND_STORE_URI: databaseSecrets.MLFLOW_BACKEND_STORE_URI
}

var webserverAuthSecretName = 'dagster-webserver-auth-secret'
var webserverExternal = !empty(webserverAuthClientId)

// Plain settings every role shares.
var commonEnv = [
  {
    name: 'NEXUS_ENV'
    value: 'production'
  }
  {
    name: 'AZURE_CLIENT_ID'
    value: identity.outputs.clientId
  }
  {
    name: 'AZURE_STORAGE_ACCOUNT_NAME'
    value: storage.outputs.name
  }
  {
    // adlfs (az:// URLs) authenticates with DefaultAzureCredential only when not anonymous.
    name: 'AZURE_STORAGE_ANON'
    value: 'false'
  }
  {
    name: 'NEXUS_DATA_DIR'
    value: 'az://${storage.outputs.assetsContainer}/data'
  }
  {
    name: 'MLFLOW_TRACKING_URI'
    value: 'http://${mlflowAppName}'
  }
  {
    // Artifacts go through the MLflow server (proxied), which alone writes the blob container.
    name: 'MLFLOW_ARTIFACT_ROOT'
    value: 'mlflow-artifacts:///experiments'
  }
]

var dagsterEnv = [
  {
    name: 'DAGSTER_HOME'
    value: dagsterHome
  }
  {
    name: 'DAGSTER_PG_HOST'
    value: postgres.outputs.fqdn
  }
  {
    name: 'DAGSTER_PG_PORT'
    value: '5432'
  }
  {
    name: 'DAGSTER_PG_DB'
    value: 'dagster'
  }
  {
    name: 'DAGSTER_PG_USERNAME'
    value: dagsterUser
  }
  {
    name: 'PGSSLMODE'
    value: 'require'
  }
  {
    name: 'NEXUS_CODE_SERVER_HOST'
    value: codeServerAppName
  }
  {
    name: 'NEXUS_CODE_SERVER_PORT'
    value: string(codeServerPort)
  }
]

var servingEnv = [
  {
    name: 'NEXUS_HOST'
    value: '0.0.0.0'
  }
  {
    name: 'NEXUS_PORT'
    value: string(servingPort)
  }
  {
    name: 'NEXUS_WORKERS'
    value: '2'
  }
  {
    // The audit spool (decisions kept while PostgreSQL is unreachable) on the replica's own
    // volume: it outlives a killed or restarted container, and the next start forwards it.
    name: 'NEXUS_AUDIT_SPOOL_DIR'
    value: auditSpoolPath
  }
]

var auditSpoolPath = '/var/lib/nexus/audit-spool'

var mlflowEnv = [
  {
    // MLflow 3 answers only the Host headers it knows (403 otherwise): the apps call it by
    // its short name, over its internal FQDN, or on localhost inside the container.
    name: 'MLFLOW_SERVER_ALLOWED_HOSTS'
    value: '${mlflowAppName},${mlflowAppName}:*,${mlflowAppName}.internal.${containerEnvironment.outputs.defaultDomain},localhost,localhost:*,127.0.0.1,127.0.0.1:*'
  }
  {
    name: 'MLFLOW_ARTIFACTS_DESTINATION'
    value: 'wasbs://${storage.outputs.mlflowContainer}@${storage.outputs.name}.blob.${environment().suffixes.storage}/artifacts'
  }
  {
    name: 'PGSSLMODE'
    value: 'require'
  }
]

// ---------------------------------------------------------------------------------------
// Platform
// ---------------------------------------------------------------------------------------

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    prefix: prefix
    location: location
    tags: allTags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    prefix: prefix
    location: location
    tags: allTags
    retentionInDays: logRetentionDays
  }
}

module network 'modules/network.bicep' = {
  name: 'network'
  params: {
    prefix: prefix
    location: location
    tags: allTags
    addressPrefix: vnetAddressPrefix
    appsSubnetPrefix: appsSubnetPrefix
    postgresSubnetPrefix: postgresSubnetPrefix
  }
}

module registry 'modules/registry.bicep' = {
  name: 'registry'
  params: {
    name: registryName
    location: location
    tags: allTags
    sku: registrySku
    pullPrincipalId: identity.outputs.principalId
    pushPrincipalId: deployPrincipalId
    pushPrincipalType: deployPrincipalType
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: keyVaultName
    location: location
    tags: allTags
    readerPrincipalId: identity.outputs.principalId
    officerPrincipalId: secretsOfficerPrincipalId
    officerPrincipalType: secretsOfficerPrincipalType
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: storageAccountName
    location: location
    tags: allTags
    skuName: storageSku
    appsSubnetId: network.outputs.appsSubnetId
    contributorPrincipalId: identity.outputs.principalId
    deleteRetentionDays: blobDeleteRetentionDays
  }
}

module postgres 'modules/postgres.bicep' = {
  name: 'postgres'
  params: {
    prefix: prefix
    name: postgresServerName
    location: location
    tags: allTags
    delegatedSubnetId: network.outputs.postgresSubnetId
    privateDnsZoneId: network.outputs.postgresDnsZoneId
    administratorLogin: postgresAdminLogin
    administratorLoginPassword: postgresAdminPassword
    skuName: postgresSkuName
    skuTier: postgresSkuTier
    storageSizeGB: postgresStorageGB
    backupRetentionDays: postgresBackupRetentionDays
    geoRedundantBackup: postgresGeoRedundantBackup
    highAvailability: postgresHighAvailability
  }
}

module containerEnvironment 'modules/environment.bicep' = {
  name: 'environment'
  params: {
    prefix: prefix
    location: location
    tags: allTags
    logAnalyticsWorkspaceId: monitoring.outputs.id
    infrastructureSubnetId: network.outputs.appsSubnetId
    zoneRedundant: zoneRedundant
  }
}

// ---------------------------------------------------------------------------------------
// Apps: one image, the role chosen by the container args
// ---------------------------------------------------------------------------------------

// Decision service: public HTTPS, 0..3 replicas on concurrent requests, 2 vCPU / 4 GiB.
// Multiple revisions so a rollback is a traffic switch (docs/deployment.md).
module serving 'modules/container-app.bicep' = if (deployApps) {
  name: 'app-serving'
  params: {
    name: servingAppName
    location: location
    tags: union(allTags, {
      role: 'serve'
    })
    environmentId: containerEnvironment.outputs.id
    identityId: identity.outputs.id
    registryServer: registry.outputs.loginServer
    image: image
    args: usePlaceholder ? [] : [
      'serve'
    ]
    cpu: '2'
    memory: '4Gi'
    env: concat(commonEnv, servingEnv)
    // EmptyDir lives as long as the replica, across container restarts; per replica, because
    // spool claims are told apart by pid, which replicas do not share.
    volumes: [
      {
        name: 'audit-spool'
        storageType: 'EmptyDir'
      }
    ]
    volumeMounts: [
      {
        volumeName: 'audit-spool'
        mountPath: auditSpoolPath
      }
    ]
    keyVaultSecrets: servingSecrets
    keyVaultUri: keyVault.outputs.uri
    ingressEnabled: true
    external: true
    targetPort: usePlaceholder ? 80 : servingPort
    transport: 'auto'
    allowInsecure: false
    revisionsMode: 'Multiple'
    minReplicas: servingMinReplicas
    maxReplicas: servingMaxReplicas
    scaleRules: [
      {
        name: 'http-concurrency'
        http: {
          metadata: {
            concurrentRequests: string(servingConcurrentRequests)
          }
        }
      }
    ]
    probes: usePlaceholder ? [] : [
      {
        type: 'Startup'
        httpGet: {
          path: '/health'
          port: servingPort
        }
        periodSeconds: 5
        failureThreshold: 30
        timeoutSeconds: 3
      }
      {
        type: 'Liveness'
        httpGet: {
          path: '/health'
          port: servingPort
        }
        periodSeconds: 10
        failureThreshold: 3
        timeoutSeconds: 3
      }
      {
        type: 'Readiness'
        httpGet: {
          path: '/ready'
          port: servingPort
        }
        periodSeconds: 5
        failureThreshold: 3
        timeoutSeconds: 3
      }
    ]
  }
}

// Dagster webserver: internal ingress by default; external only behind Entra ID sign-in.
module webserver 'modules/container-app.bicep' = if (deployApps) {
  name: 'app-webserver'
  params: {
    name: webserverAppName
    location: location
    tags: union(allTags, {
      role: 'dagster-webserver'
    })
    environmentId: containerEnvironment.outputs.id
    identityId: identity.outputs.id
    registryServer: registry.outputs.loginServer
    image: image
    args: usePlaceholder ? [] : [
      'dagster-webserver'
    ]
    cpu: '1'
    memory: '2Gi'
    env: concat(commonEnv, dagsterEnv)
    keyVaultSecrets: dagsterSecrets
    extraKeyVaultSecrets: webserverExternal ? {
      'microsoft-provider-authentication-secret': webserverAuthSecretName
    } : {}
    keyVaultUri: keyVault.outputs.uri
    ingressEnabled: true
    external: webserverExternal
    targetPort: usePlaceholder ? 80 : webserverPort
    transport: 'auto'
    allowInsecure: false
    allowedIpRanges: webserverAllowedIpRanges
    minReplicas: 1
    maxReplicas: 1
    probes: usePlaceholder ? [] : [
      {
        type: 'Liveness'
        httpGet: {
          path: '/server_info'
          port: webserverPort
        }
        initialDelaySeconds: 30
        periodSeconds: 15
        failureThreshold: 4
        timeoutSeconds: 5
      }
    ]
  }
}

module webserverAuth 'modules/webserver-auth.bicep' = if (deployApps && webserverExternal) {
  name: 'app-webserver-auth'
  params: {
    appName: webserverAppName
    clientId: webserverAuthClientId
    clientSecretSettingName: 'microsoft-provider-authentication-secret'
  }
  dependsOn: [
    webserver
  ]
}

// Dagster daemon: schedules, sensors, run queue. No ingress; exactly one replica.
module daemon 'modules/container-app.bicep' = if (deployApps) {
  name: 'app-daemon'
  params: {
    name: daemonAppName
    location: location
    tags: union(allTags, {
      role: 'dagster-daemon'
    })
    environmentId: containerEnvironment.outputs.id
    identityId: identity.outputs.id
    registryServer: registry.outputs.loginServer
    image: image
    args: usePlaceholder ? [] : [
      'dagster-daemon'
    ]
    cpu: '0.5'
    memory: '1Gi'
    env: concat(commonEnv, dagsterEnv)
    keyVaultSecrets: dagsterSecrets
    keyVaultUri: keyVault.outputs.uri
    ingressEnabled: false
    minReplicas: 1
    maxReplicas: 1
  }
}

// Dagster code server (gRPC): internal TCP ingress on 4000. Runs execute here with the
// default run launcher, so it gets the most resources and every pipeline secret.
module codeServer 'modules/container-app.bicep' = if (deployApps) {
  name: 'app-code'
  params: {
    name: codeServerAppName
    location: location
    tags: union(allTags, {
      role: 'code-server'
    })
    environmentId: containerEnvironment.outputs.id
    identityId: identity.outputs.id
    registryServer: registry.outputs.loginServer
    image: image
    args: usePlaceholder ? [] : [
      'code-server'
    ]
    cpu: '2'
    memory: '4Gi'
    env: concat(commonEnv, dagsterEnv)
    keyVaultSecrets: codeServerSecrets
    keyVaultUri: keyVault.outputs.uri
    ingressEnabled: true
    external: false
    targetPort: usePlaceholder ? 80 : codeServerPort
    transport: 'tcp'
    exposedPort: codeServerPort
    minReplicas: 1
    maxReplicas: 1
    probes: usePlaceholder ? [] : [
      {
        type: 'Liveness'
        tcpSocket: {
          port: codeServerPort
        }
        initialDelaySeconds: 30
        periodSeconds: 15
        failureThreshold: 4
      }
    ]
  }
}

// MLflow tracking server: internal ingress; the only writer of the artifact container.
// Plain HTTP inside the environment (apps call http://<name>); nothing reaches it from outside.
module mlflow 'modules/container-app.bicep' = if (deployApps) {
  name: 'app-mlflow'
  params: {
    name: mlflowAppName
    location: location
    tags: union(allTags, {
      role: 'mlflow'
    })
    environmentId: containerEnvironment.outputs.id
    identityId: identity.outputs.id
    registryServer: registry.outputs.loginServer
    image: image
    args: usePlaceholder ? [] : [
      'mlflow'
    ]
    cpu: '1'
    memory: '2Gi'
    env: concat(commonEnv, mlflowEnv)
    keyVaultSecrets: mlflowSecrets
    keyVaultUri: keyVault.outputs.uri
    ingressEnabled: true
    external: false
    targetPort: usePlaceholder ? 80 : mlflowPort
    transport: 'auto'
    allowInsecure: true
    minReplicas: 1
    maxReplicas: 1
    probes: usePlaceholder ? [] : [
      {
        type: 'Liveness'
        httpGet: {
          path: '/health'
          port: mlflowPort
        }
        initialDelaySeconds: 15
        periodSeconds: 15
        failureThreshold: 4
        timeoutSeconds: 5
      }
    ]
  }
}

// ---------------------------------------------------------------------------------------
// Outputs (the deploy workflow reads these)
// ---------------------------------------------------------------------------------------

output registryName string = registry.outputs.name
output registryLoginServer string = registry.outputs.loginServer
output servingUrl string = deployApps ? 'https://${serving.outputs.fqdn}' : ''
output servingAppName string = servingAppName
output webserverAppName string = webserverAppName
output daemonAppName string = daemonAppName
output codeServerAppName string = codeServerAppName
output mlflowAppName string = mlflowAppName
output keyVaultName string = keyVault.outputs.name
output keyVaultUri string = keyVault.outputs.uri
output storageAccountName string = storage.outputs.name
output postgresServerName string = postgres.outputs.name
output postgresFqdn string = postgres.outputs.fqdn
output identityClientId string = identity.outputs.clientId
