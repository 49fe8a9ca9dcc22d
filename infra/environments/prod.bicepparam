// Production: zone-redundant environment and storage, zone-redundant PostgreSQL high
// availability with geo-redundant backups kept 35 days. Deploy (the deploy workflow):
//   az deployment group create --resource-group "$AZURE_RESOURCE_GROUP"
//   --template-file infra/main.bicep --parameters infra/environments/prod.bicepparam
//   --parameters imageTag=<git sha>
using '../main.bicep'

param environmentName = 'prod'

param imageTag = ''
param deployApps = true

param vnetAddressPrefix = '10.40.0.0/16'
param appsSubnetPrefix = '10.40.0.0/23'
param postgresSubnetPrefix = '10.40.2.0/28'
param zoneRedundant = true

param logRetentionDays = 90
param registrySku = 'Standard'
param storageSku = 'Standard_GZRS'
param blobDeleteRetentionDays = 30

param postgresAdminLogin = 'nexusadmin'
param postgresSkuName = 'Standard_D2ds_v5'
param postgresSkuTier = 'GeneralPurpose'
param postgresStorageGB = 64
param postgresBackupRetentionDays = 35
param postgresGeoRedundantBackup = 'Enabled'
param postgresHighAvailability = 'ZoneRedundant'

// Scale to zero saves cost but the first request after idle waits for a cold start
// (image pull and model load); keep one replica warm in production.
param servingMinReplicas = 1
param servingMaxReplicas = 3
param servingConcurrentRequests = 50

param enableXai = true
param enableLangSmith = true
param enableLiveEngine = true
