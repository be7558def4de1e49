// Alerts on the app's telemetry: an action group (email receivers, optionally a webhook) and scheduled log
// query rules over the Log Analytics workspace. The queries live in ../alerts/*.kql (tests read them and
// check every custom dimension they use is one the app writes); docs/operate.md has a runbook per alert.

@description('Azure region of the alert rules (the workspace\'s region).')
param location string

@description('Resource id of the Log Analytics workspace the app\'s Application Insights writes to.')
param workspaceId string

@description('Short prefix for alert rule names, e.g. the environment name.')
param namePrefix string

@description('E-mail addresses the action group notifies; empty creates no e-mail receiver.')
param emailAddresses array = []

@description('HTTPS webhook the action group calls with the common alert schema; empty for none.')
@secure()
param webhookUrl string = ''

@description('Minutes between two sweeps (must match the sweep schedule, LIFECYCLE_SWEEP_SCHEDULE).')
@minValue(1)
@maxValue(720)
param sweepIntervalMinutes int = 15

@description('Whether the rules are enabled.')
param enabled bool = true

@description('Tags applied to every resource.')
param tags object = {}

var sweepWindow = 'PT${sweepIntervalMinutes}M'
var twoSweeps = 'PT${2 * sweepIntervalMinutes}M'
var fourSweeps = 'PT${4 * sweepIntervalMinutes}M'

// name, severity (0 critical .. 4 verbose), query, evaluation frequency, window, description
var rules = [
  {
    name: 'replication-failed'
    severity: 1
    query: loadTextContent('../alerts/replication-failed.kql')
    frequency: sweepWindow
    window: sweepWindow
    description: 'A version\'s replication failed and healing gave up (ImageLifecycle.ReplicationFailed).'
  }
  {
    name: 'config-rejected'
    severity: 2
    query: loadTextContent('../alerts/config-rejected.kql')
    frequency: 'PT5M'
    window: 'PT5M'
    description: 'The policy document was rejected; the last accepted policy stays in force.'
  }
  {
    name: 'failed-actions'
    severity: 2
    query: loadTextContent('../alerts/failed-actions.kql')
    frequency: sweepWindow
    window: sweepWindow
    description: 'Runs with failed actions or errors.'
  }
  {
    name: 'poison-messages'
    severity: 2
    query: loadTextContent('../alerts/poison-messages.kql')
    frequency: sweepWindow
    window: sweepWindow
    description: 'Fan-out messages given up on (poison queue).'
  }
  {
    name: 'outbox-dead-letters'
    severity: 2
    query: loadTextContent('../alerts/outbox-dead-letters.kql')
    frequency: sweepWindow
    window: sweepWindow
    description: 'Lifecycle events the topic refused for good were moved to dead letters.'
  }
  {
    name: 'deferred-growing'
    severity: 3
    query: replace(loadTextContent('../alerts/deferred-growing.kql'), '{{SWEEP_MINUTES}}', string(sweepIntervalMinutes))
    frequency: sweepWindow
    window: fourSweeps
    description: 'Deferred work grew over four sweep intervals: the fleet is not catching up.'
  }
  {
    name: 'no-sweep'
    severity: 1
    query: replace(loadTextContent('../alerts/no-sweep.kql'), '{{SWEEP_MINUTES}}', string(sweepIntervalMinutes))
    frequency: sweepWindow
    window: twoSweeps
    description: 'No sweep completed for two sweep intervals.'
  }
]

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-${namePrefix}'
  location: 'Global'
  tags: tags
  properties: {
    groupShortName: take('lifecycle', 12)
    enabled: true
    emailReceivers: [
      for (address, i) in emailAddresses: {
        name: 'email-${i}'
        emailAddress: address
        useCommonAlertSchema: true
      }
    ]
    webhookReceivers: empty(webhookUrl) ? [] : [
      {
        name: 'webhook'
        serviceUri: webhookUrl
        useCommonAlertSchema: true
      }
    ]
  }
}

resource alertRules 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = [
  for rule in rules: {
    name: '${namePrefix}-${rule.name}'
    location: location
    tags: tags
    properties: {
      displayName: 'Gallery lifecycle: ${rule.name}'
      description: rule.description
      severity: rule.severity
      enabled: enabled
      scopes: [
        workspaceId
      ]
      evaluationFrequency: rule.frequency
      windowSize: rule.window
      criteria: {
        allOf: [
          {
            query: rule.query
            timeAggregation: 'Count'
            operator: 'GreaterThan'
            threshold: 0
            failingPeriods: {
              numberOfEvaluationPeriods: 1
              minFailingPeriodsToAlert: 1
            }
          }
        ]
      }
      autoMitigate: true
      actions: {
        actionGroups: [
          actionGroup.id
        ]
      }
    }
  }
]

@description('Resource id of the action group.')
output actionGroupId string = actionGroup.id

@description('Names of the alert rules.')
output ruleNames array = [for (rule, i) in rules: alertRules[i].name]
