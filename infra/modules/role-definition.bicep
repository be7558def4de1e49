// One custom role holding exactly the ARM actions the app performs at one kind of scope (see
// `python -m lifecycle permissions`). Defined at subscription scope, assignable only where it is assigned.
targetScope = 'subscription'

@description('Display name of the role; unique in the tenant, so it carries the environment and subscription.')
param roleName string

@description('Stable key of the role within the deployment (seeds the role definition\'s guid).')
param roleKey string

@description('What the role is for.')
param roleDescription string

@description('The ARM actions of the role (no wildcards, no data actions).')
@minLength(1)
param actions array

@description('Resource ids of the scopes the role may be assigned at: the scopes it is assigned at and no others.')
@minLength(1)
param assignableScopes array

@description('Seed of the role definition\'s guid, stable across deployments of one environment.')
param nameSeed string

resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, roleKey, nameSeed)
  properties: {
    roleName: roleName
    description: roleDescription
    type: 'CustomRole'
    assignableScopes: assignableScopes
    permissions: [
      {
        actions: actions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
  }
}

@description('Resource id of the role definition, for role assignments.')
output id string = role.id
