// Role assignments at one subscription: the in-use check lists the VMs and scale sets of every subscription
// whose machines may use the galleries, and ARM checks a list at the subscription it covers.
// Deployed once per subscription (the module's scope differs).
targetScope = 'subscription'

@description('Assignments at this subscription: objects with principalId, roleDefinitionId (full resource id), principalType and description.')
param roleAssignments array

resource assignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for assignment in roleAssignments: {
    name: guid(subscription().id, assignment.principalId, assignment.roleDefinitionId)
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
