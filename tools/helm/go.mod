// Wrapper module that builds helm (the Helm 3 CLI) for the chart's tests.
module omnivisor.io/tools/helm

go 1.26.0

require helm.sh/helm/v3 v3.22.0 // indirect
