# Pinned versions and cache locations, sourced by the scripts and read by the TypeScript harness
# (tests/harness/paths.ts mirrors these; keep them in step).
KUBE_VERSION=1.36.3
ETCD_VERSION=3.6.8
VCSIM_VERSION=0.46.3
NODE_MAJOR=24
OMNIVISOR_CACHE=${OMNIVISOR_CACHE:-$HOME/.cache/omnivisor}
KUBE_BIN=$OMNIVISOR_CACHE/kubernetes-v$KUBE_VERSION
ETCD_BIN=$OMNIVISOR_CACHE/etcd-v$ETCD_VERSION
VCSIM_BIN=$OMNIVISOR_CACHE/govmomi-v$VCSIM_VERSION
# Helm 3 for the chart (charts/omnivisor) and its install scenarios
HELM_VERSION=3.22.0
HELM_BIN=$OMNIVISOR_CACHE/helm-v$HELM_VERSION
# BMC emulators for the fencing clients' protocol tests (PyPI, in a venv): Redfish (sushy-tools)
# and IPMI (virtualbmc, fronting a private libvirtd's domain through libvirt-python)
SUSHY_TOOLS_VERSION=2.2.0
VIRTUALBMC_VERSION=3.3.0
LIBVIRT_PYTHON_VERSION=9.0.0
BMC_VENV=$OMNIVISOR_CACHE/bmc-venv-sushy-$SUSHY_TOOLS_VERSION-vbmc-$VIRTUALBMC_VERSION
