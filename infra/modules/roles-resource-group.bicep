// Role assignments at one resource group: a galleries' resource group, or an Image Builder templates' one.
// Deployed once per resource group (the module's scope differs).

@description('Assignments at this resource group: objects with principalId, roleDefinitionId (full resource id), principalType and description.')
param roleAssignments array

resource assignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for assignment in roleAssignments: {
    name: guid(resourceGroup().id, assignment.principalId, assignment.roleDefinitionId)
    properties: {
      principalId: assignment.principalId
      roleDefinitionId: assignment.roleDefinitionId
      principalType: assignment.principalType
      description: assignment.description
    }
  }
]

@description('Resource ids of the role assignments.')
output ids array = [for i in range(0, length(roleAssignments)): assignments[i].id]
