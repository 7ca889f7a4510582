// Wrapper module that builds vcsim and govc (the govmomi ESXi simulator and CLI).
module omnivisor.io/tools/vcsim

go 1.26.0

require github.com/vmware/govmomi v0.46.3 // indirect
