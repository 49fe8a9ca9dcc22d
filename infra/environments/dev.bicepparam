// Development: smallest sizes, no zone redundancy or geo-redundant backups, serving scales
// to zero when idle. Deploy: az deployment group create --resource-group <rg-dev>
//   --template-file infra/main.bicep --parameters infra/environments/dev.bicepparam
using '../main.bicep'

param environmentName = 'dev'

// imageTag is passed by the deploy workflow (--parameters imageTag=<git sha>); empty runs
// the public placeholder image.
param imageTag = ''
param deployApps = true

param vnetAddressPrefix = '10.41.0.0/16'
param appsSubnetPrefix = '10.41.0.0/23'
param postgresSubnetPrefix = '10.41.2.0/28'
param zoneRedundant = false

param logRetentionDays = 30
param registrySku = 'Standard'
param storageSku = 'Standard_LRS'
param blobDeleteRetentionDays = 7

param postgresAdminLogin = 'nexusadmin'
param postgresSkuName = 'Standard_B1ms'
param postgresSkuTier = 'Burstable'
param postgresStorageGB = 32
param postgresBackupRetentionDays = 7
param postgresGeoRedundantBackup = 'Disabled'
param postgresHighAvailability = 'Disabled'

param servingMinReplicas = 0
param servingMaxReplicas = 3
param servingConcurrentRequests = 50

param enableXai = true
param enableLangSmith = true
param enableLiveEngine = true
