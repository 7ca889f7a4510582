#!/usr/bin/env bash
# Installs the BMC emulator the Redfish fencing client is tested against — sushy-tools (the
# OpenStack Redfish emulator), pinned, from PyPI into a venv under the cache — and prints the
# venv's path. Idempotent: nothing is fetched when the pinned version is installed. Its fake
# driver (no libvirt needed) serves a Redfish system whose power we read and change.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/scripts/versions.sh"
if [ -f "$BMC_VENV/.ok" ] && "$BMC_VENV/bin/sushy-emulator" --help >/dev/null 2>&1; then echo "$BMC_VENV"; exit 0; fi
rm -rf "$BMC_VENV"
python3 -m venv "$BMC_VENV" >&2
"$BMC_VENV/bin/pip" install --quiet --disable-pip-version-check "sushy-tools==$SUSHY_TOOLS_VERSION" >&2
"$BMC_VENV/bin/sushy-emulator" --help >/dev/null
touch "$BMC_VENV/.ok"
echo "$BMC_VENV"
