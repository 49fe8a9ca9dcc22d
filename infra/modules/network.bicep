// Virtual network: one subnet for the Container Apps environment (workload profiles,
// delegated to Microsoft.App/environments) and one delegated to PostgreSQL Flexible Server,
// which gets no public endpoint. A private DNS zone resolves the server's name inside the VNet.

param prefix string
param location string
param tags object

@description('Address space of the VNet, e.g. 10.40.0.0/16.')
param addressPrefix string

@description('Subnet of the Container Apps environment (at least /27; /23 leaves room to grow).')
param appsSubnetPrefix string

@description('Subnet delegated to PostgreSQL Flexible Server.')
param postgresSubnetPrefix string

resource appsNsg 'Microsoft.Network/networkSecurityGroups@2024-01-01' = {
  name: '${prefix}-apps-nsg'
  location: location
  tags: tags
  properties: {
    securityRules: []
  }
}

resource postgresNsg 'Microsoft.Network/networkSecurityGroups@2024-01-01' = {
  name: '${prefix}-pg-nsg'
  location: location
  tags: tags
  properties: {
    securityRules: [
      {
        name: 'allow-postgres-from-apps'
        properties: {
          priority: 100
          direction: 'Inbound'
          access: 'Allow'
          protocol: 'Tcp'
          sourceAddressPrefix: appsSubnetPrefix
          sourcePortRange: '*'
          destinationAddressPrefix: postgresSubnetPrefix
          destinationPortRange: '5432'
        }
      }
      {
        // Zone-redundant high availability replicates between servers in this subnet.
        name: 'allow-postgres-subnet'
        properties: {
          priority: 110
          direction: 'Inbound'
          access: 'Allow'
          protocol: '*'
          sourceAddressPrefix: postgresSubnetPrefix
          sourcePortRange: '*'
          destinationAddressPrefix: postgresSubnetPrefix
          destinationPortRange: '*'
        }
      }
      {
        name: 'deny-other-vnet-inbound'
        properties: {
          priority: 4000
          direction: 'Inbound'
          access: 'Deny'
          protocol: '*'
          sourceAddressPrefix: 'VirtualNetwork'
          sourcePortRange: '*'
          destinationAddressPrefix: '*'
          destinationPortRange: '*'
        }
      }
    ]
  }
}

resource vnet 'Microsoft.Network/virtualNetworks@2024-01-01' = {
  name: '${prefix}-vnet'
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: 'apps'
        properties: {
          addressPrefix: appsSubnetPrefix
          networkSecurityGroup: {
            id: appsNsg.id
          }
          delegations: [
            {
              name: 'container-apps'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
          // Blob traffic from the apps stays on the Azure backbone and passes the storage
          // account's network rules.
          serviceEndpoints: [
            {
              service: 'Microsoft.Storage'
            }
          ]
        }
      }
      {
        name: 'postgres'
        properties: {
          addressPrefix: postgresSubnetPrefix
          networkSecurityGroup: {
            id: postgresNsg.id
          }
          delegations: [
            {
              name: 'postgres-flexible'
              properties: {
                serviceName: 'Microsoft.DBforPostgreSQL/flexibleServers'
              }
            }
          ]
        }
      }
    ]
  }
}

resource postgresDns 'Microsoft.Network/privateDnsZones@2020-06-01' = {
  name: '${prefix}.private.postgres.database.azure.com'
  location: 'global'
  tags: tags
}

resource postgresDnsLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = {
  parent: postgresDns
  name: '${prefix}-vnet-link'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnet.id
    }
  }
}

output vnetId string = vnet.id
output appsSubnetId string = '${vnet.id}/subnets/apps'
output postgresSubnetId string = '${vnet.id}/subnets/postgres'
// A module's outputs exist only once the whole module (the VNet link included) has deployed.
output postgresDnsZoneId string = postgresDns.id
