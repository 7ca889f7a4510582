#!/usr/bin/env bash
# Installs the BMC emulators the fencing clients are tested against, pinned, from PyPI into a venv
# under the cache, and prints the venv's path: sushy-tools (the OpenStack Redfish emulator; its
# fake driver serves a system whose power we read and change) and virtualbmc (vbmcd: an IPMI
# v2.0 BMC per libvirt domain, through libvirt-python — built against the Debian libvirt-dev of
# the same version as libvirtd). Idempotent: nothing is fetched when the pinned versions are there.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/scripts/versions.sh"
ready() { [ -f "$BMC_VENV/.ok" ] && "$BMC_VENV/bin/sushy-emulator" --help >/dev/null 2>&1 && "$BMC_VENV/bin/vbmc" --help >/dev/null 2>&1; }
if ready; then echo "$BMC_VENV"; exit 0; fi
rm -rf "$BMC_VENV"
python3 -m venv "$BMC_VENV" >&2
"$BMC_VENV/bin/pip" install --quiet --disable-pip-version-check "sushy-tools==$SUSHY_TOOLS_VERSION" "virtualbmc==$VIRTUALBMC_VERSION" "libvirt-python==$LIBVIRT_PYTHON_VERSION" >&2
"$BMC_VENV/bin/sushy-emulator" --help >/dev/null
"$BMC_VENV/bin/vbmc" --help >/dev/null
touch "$BMC_VENV/.ok"
echo "$BMC_VENV"
