// One container app running the `trade-nexus` image in a given role (container args).
// Secrets are Key Vault references resolved with the apps identity; the template never
// holds a secret value. Every secret becomes an environment variable through secretRef.

param name string
param location string
param tags object

param environmentId string

@description('Resource id of the user-assigned identity (registry pull, Key Vault, blobs).')
param identityId string

@description('Login server of the registry the image is pulled from.')
param registryServer string

param image string

@description('Container arguments: the role (serve, dagster-webserver, dagster-daemon, code-server, mlflow).')
param args array

@description('vCPU as a string, e.g. "0.5" or "2".')
param cpu string

@description('Memory, e.g. "1Gi" or "4Gi" (Consumption: 2 GiB per vCPU).')
param memory string

@description('Plain environment variables: [{ name, value }].')
param env array = []

@description('Environment variable name -> Key Vault secret name.')
param keyVaultSecrets object = {}

@description('Vault URI ending with a slash (https://<vault>.vault.azure.net/).')
param keyVaultUri string

@description('No ingress at all when false (the Dagster daemon).')
param ingressEnabled bool = true

param external bool = false
param targetPort int = 80

@allowed([
  'auto'
  'http'
  'http2'
  'tcp'
])
param transport string = 'auto'

@description('Port other apps connect to (TCP ingress only).')
param exposedPort int = 0

@description('Plain HTTP allowed (internal apps called by name inside the environment).')
param allowInsecure bool = false

@description('CIDR ranges allowed to reach the ingress; empty allows all.')
param allowedIpRanges array = []

param probes array = []

@minValue(0)
param minReplicas int = 1

@minValue(1)
param maxReplicas int = 1

param scaleRules array = []

@allowed([
  'Single'
  'Multiple'
])
param revisionsMode string = 'Single'

@description('Volumes of a replica (name, storageType), mounted by volumeMounts.')
param volumes array = []

@description('Where the container mounts them (volumeName, mountPath).')
param volumeMounts array = []

@description('Extra app-level secrets as Key Vault references: app secret name -> Key Vault secret name.')
param extraKeyVaultSecrets object = {}

var envSecrets = [for secret in items(keyVaultSecrets): {
  name: secret.value
  keyVaultUrl: '${keyVaultUri}secrets/${secret.value}'
  identity: identityId
}]

var extraSecrets = [for secret in items(extraKeyVaultSecrets): {
  name: secret.key
  keyVaultUrl: '${keyVaultUri}secrets/${secret.value}'
  identity: identityId
}]

var secretEnv = [for secret in items(keyVaultSecrets): {
  name: secret.key
  secretRef: secret.value
}]

var ipRestrictions = [for (cidr, i) in allowedIpRanges: {
  name: 'allow-${i}'
  ipAddressRange: cidr
  action: 'Allow'
}]

var httpIngress = {
  external: external
  targetPort: targetPort
  transport: transport
  allowInsecure: allowInsecure
  ipSecurityRestrictions: ipRestrictions
  traffic: [
    {
      latestRevision: true
      weight: 100
    }
  ]
}

var tcpIngress = union(httpIngress, {
  exposedPort: exposedPort
})

resource app 'Microsoft.App/containerApps@2024-03-01' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    environmentId: environmentId
    workloadProfileName: 'Consumption'
    configuration: {
      activeRevisionsMode: revisionsMode
      ingress: ingressEnabled ? (transport == 'tcp' ? tcpIngress : httpIngress) : null
      registries: [
        {
          server: registryServer
          identity: identityId
        }
      ]
      secrets: concat(envSecrets, extraSecrets)
    }
    template: {
      containers: [
        {
          name: 'main'
          image: image
          args: args
          env: concat(env, secretEnv)
          resources: {
            cpu: json(cpu)
            memory: memory
          }
          probes: probes
          volumeMounts: volumeMounts
        }
      ]
      volumes: volumes
      scale: {
        minReplicas: minReplicas
        maxReplicas: maxReplicas
        rules: scaleRules
      }
    }
  }
}

output name string = app.name
output fqdn string = ingressEnabled ? app.properties.configuration.ingress.fqdn : ''
output latestRevisionName string = app.properties.latestRevisionName
