# preprovision hook (Windows): see preprovision.sh. Fails early when the galleries' resource group is unset or
# does not exist, and likewise for the templates' one.
$ErrorActionPreference = 'Stop'

$galleryRg = $env:LIFECYCLE_GALLERY_RESOURCE_GROUP
if ([string]::IsNullOrWhiteSpace($galleryRg)) {
    Write-Error "LIFECYCLE_GALLERY_RESOURCE_GROUP is not set: the resource group holding the galleries the policy manages. Run: azd env set LIFECYCLE_GALLERY_RESOURCE_GROUP <resource group>"
    exit 1
}
if (-not (Get-Command az -ErrorAction SilentlyContinue)) {
    Write-Error "The Azure CLI (az) is needed to check that resource group '$galleryRg' exists; install it and run 'az login'."
    exit 1
}

function Test-Group([string]$Name, [string]$Setting) {
    $arguments = @('group', 'exists', '--name', $Name)
    if ($env:AZURE_SUBSCRIPTION_ID) { $arguments += @('--subscription', $env:AZURE_SUBSCRIPTION_ID) }
    $exists = & az @arguments
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
    if ($exists -ne 'true') {
        Write-Error "Resource group '$Name' ($Setting) does not exist in subscription $($env:AZURE_SUBSCRIPTION_ID). The deployment never creates it: set $Setting to an existing resource group."
        exit 1
    }
}

Test-Group $galleryRg 'LIFECYCLE_GALLERY_RESOURCE_GROUP'
if (-not [string]::IsNullOrWhiteSpace($env:LIFECYCLE_TEMPLATE_RESOURCE_GROUP)) {
    Test-Group $env:LIFECYCLE_TEMPLATE_RESOURCE_GROUP 'LIFECYCLE_TEMPLATE_RESOURCE_GROUP'
}
Write-Host "Galleries' resource group '$galleryRg' found."
