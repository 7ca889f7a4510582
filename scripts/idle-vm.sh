#!/usr/bin/env bash
# Builds the idle VM image the provisioning benchmark starts by the hundred, into
# $OMNIVISOR_CACHE/images/idle-vm/:
#   vmlinuz      a 36-byte multiboot kernel: `cli; hlt` forever (QEMU loads it by direct kernel boot)
#   disk.qcow2   a small blank base disk (the driver puts qcow2 overlays over it)
# Its guest costs well under a second of CPU in all (the tiny-vm kernel takes seconds of CPU to
# boot under TCG), so 100 of them on 2 cores measure provisioning, not a boot storm (ADR 0013).
# Idempotent: does nothing when the image is already built.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/scripts/versions.sh"
out="$OMNIVISOR_CACHE/images/idle-vm"
[ -f "$out/.ok" ] && { echo "$out"; exit 0; }
command -v qemu-img >/dev/null || { echo "idle-vm: qemu-img is missing (apt-get install qemu-utils)" >&2; exit 1; }
mkdir -p "$out"
# Multiboot header (magic 0x1BADB002, flags bit 16: load at the addresses given, checksum,
# header/load address 0x100000, load to end of file, no bss, entry 0x100020), then the code
# at the entry: cli; hlt; jmp back to the hlt.
printf '\x02\xb0\xad\x1b\x00\x00\x01\x00\xfe\x4f\x51\xe4\x00\x00\x10\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00\x00\x00\x20\x00\x10\x00\xfa\xf4\xeb\xfd' >"$out/vmlinuz"
qemu-img create -q -f qcow2 "$out/disk.qcow2" 16M
touch "$out/.ok"
echo "$out"
