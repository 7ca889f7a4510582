#!/usr/bin/env bash
# Installs the Debian packages the project needs (as root), only those missing. Fast when all
# are present (one dpkg-query), so every make target can depend on it.
set -euo pipefail
packages=(
  libvirt-daemon-system libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients  # libvirtd
  qemu-system-x86 qemu-utils                                                        # QEMU/KVM, qemu-img
  dnsmasq-base iptables                                                             # libvirt's default NAT network
  docker.io                                                                         # dockerd 20.10
  busybox-static cpio xz-utils                                                      # busybox image, tiny VM initramfs
  openssl curl iproute2 gcc libc6-dev                                               # certificates, probes, supervise
  python3-venv python3-dev pkg-config libvirt-dev                                   # BMC emulators venv (sushy-tools, virtualbmc + libvirt-python)
  ipmitool                                                                          # IPMI fencing (the operator shells out to it)
  containerd runc containernetworking-plugins conntrack                             # the one-node test cluster (kubelet's runtime, CNI, kube-proxy)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0
if [ "$(id -u)" != 0 ]; then echo "install-packages: need root to install: ${missing[*]}" >&2; exit 1; fi
echo "installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
