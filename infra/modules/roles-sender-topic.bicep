// EventGrid Data Sender on one sender topic, for the principals of that topic only: a build system's
// pipelines on its own build topic, the approvers on the approvals topic. Deployed once per topic, so no
// principal is granted on a topic it was not listed for.

@description('Name of the sender topic (in this resource group).')
param topicName string

@description('Object ids that may publish into this topic (principal type left open: pipelines\' service principals, users or groups).')
param senderPrincipalIds array

@description('What the senders publish, for the assignments\' description.')
param purpose string

// Built-in role id (learn.microsoft.com/azure/role-based-access-control/built-in-roles).
var eventGridDataSender = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'd5a91429-5739-47e2-a06b-3470a27159e7')

resource topic 'Microsoft.EventGrid/topics@2025-02-15' existing = {
  name: topicName
}

resource senderRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in senderPrincipalIds: {
    name: guid(topic.id, principalId, eventGridDataSender)
    scope: topic
    properties: {
      principalId: principalId
      roleDefinitionId: eventGridDataSender
      description: purpose
    }
  }
]

@description('Number of role assignments made on the topic.')
output count int = length(senderPrincipalIds)
