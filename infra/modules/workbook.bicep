// The fleet health workbook: its JSON is ../workbook/fleet-health.json (tests parse it and check every
// custom dimension and metric it reads is one the app writes).

@description('Azure region of the workbook.')
param location string

@description('Resource id of the Log Analytics workspace the workbook queries.')
param workspaceId string

@description('Display name of the workbook.')
param displayName string = 'Gallery lifecycle: fleet health'

@description('URL of the fleet report the sweep writes (reports/latest.html in the state container).')
param reportUrl string

@description('Tags applied to the workbook.')
param tags object = {}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, workspaceId, 'fleet-health')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: workspaceId
    serializedData: replace(loadTextContent('../workbook/fleet-health.json'), '{{REPORT_URL}}', reportUrl)
  }
}

@description('Resource id of the workbook.')
output id string = workbook.id
