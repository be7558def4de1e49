// The custom role holding exactly the ARM actions the app performs on galleries, Image Builder templates and
// the VMs / scale sets it checks for versions in use. Defined at subscription scope, assignable only at the
// galleries' resource groups.
targetScope = 'subscription'

@description('Display name of the role; unique in the tenant, so it carries the environment and subscription.')
param roleName string

@description('Resource ids of the resource groups the role may be assigned at (the galleries\' resource groups).')
@minLength(1)
param assignableScopes array

@description('Seed of the role definition\'s guid, stable across deployments of one environment.')
param nameSeed string

resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, 'gallery-lifecycle-operator', nameSeed)
  properties: {
    roleName: roleName
    description: 'Image lifecycle automation: read galleries and image definitions; read, write and delete image versions; read and run Image Builder templates; read VMs and scale sets to find versions in use; poll compute long-running operations.'
    type: 'CustomRole'
    assignableScopes: assignableScopes
    permissions: [
      {
        actions: [
          'Microsoft.Compute/galleries/read'
          'Microsoft.Compute/galleries/images/read'
          'Microsoft.Compute/galleries/images/versions/read'
          'Microsoft.Compute/galleries/images/versions/write'
          'Microsoft.Compute/galleries/images/versions/delete'
          'Microsoft.VirtualMachineImages/imageTemplates/read'
          'Microsoft.VirtualMachineImages/imageTemplates/run/action'
          'Microsoft.Compute/virtualMachines/read'
          'Microsoft.Compute/virtualMachineScaleSets/read'
          'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read'
          'Microsoft.Compute/locations/capsOperations/read'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
  }
}

@description('Resource id of the role definition, for role assignments.')
output id string = role.id
