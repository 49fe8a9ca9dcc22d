// Container Apps built-in authentication (Entra ID) in front of the Dagster webserver, used
// when its ingress is external. Every unauthenticated request is redirected to sign-in.

param appName string

@description('Application (client) id of the Entra ID app registration.')
param clientId string

@description('Name of the container app secret holding the app registration client secret.')
param clientSecretSettingName string

resource app 'Microsoft.App/containerApps@2024-03-01' existing = {
  name: appName
}

resource auth 'Microsoft.App/containerApps/authConfigs@2024-03-01' = {
  parent: app
  name: 'current'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      unauthenticatedClientAction: 'RedirectToLoginPage'
      redirectToProvider: 'azureactivedirectory'
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: clientId
          clientSecretSettingName: clientSecretSettingName
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            'api://${clientId}'
          ]
        }
      }
    }
    httpSettings: {
      requireHttps: true
    }
  }
}
