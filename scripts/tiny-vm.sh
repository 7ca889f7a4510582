#!/usr/bin/env bash
# Builds the tiny test VM used by KVM tests and the demo into $OMNIVISOR_CACHE/images/tiny-vm/:
#   vmlinuz      Debian's kernel (extracted from the linux-image .deb, not installed)
#   initrd.img   a busybox initramfs whose /init prints a known banner on the serial console,
#                loads virtio drivers, reads a cloud-init NoCloud seed (a CD-ROM labelled cidata)
#                and prints its final_message, tries DHCP, then prints a heartbeat every second; a guest
#                with 200 MiB of RAM or more also keeps half of it busy (see "ballast" below)
#   disk.qcow2   a small blank base disk (the driver puts qcow2 overlays over it)
# The guest boots by direct kernel boot (no BIOS boot loader), so a VM is up in about a second.
# Idempotent: does nothing when this version of the image is already built.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/scripts/versions.sh"
out="$OMNIVISOR_CACHE/images/tiny-vm"
# .ok holds the version of the image built; a change to what the image contains bumps it, so an
# existing cache is rebuilt (version 1 left .ok empty). 2: the ballast for migration tests.
# 3: SATA / SCSI / CD-ROM / ISO9660 modules and the cloud-init seed (final_message on the console).
# 4: sd_mod's checksum modules, so SCSI and SATA disks show as /dev/sdX; the seed is looked for 30 s.
version=4
[ "$(cat "$out/.ok" 2>/dev/null)" = "$version" ] && { echo "$out"; exit 0; }

need() { command -v "$1" >/dev/null || { echo "tiny-vm: $1 is missing (apt-get install $2)" >&2; exit 1; }; }
need busybox busybox-static; need cpio cpio; need qemu-img qemu-utils
[ -x /bin/busybox ] && file -L /bin/busybox 2>/dev/null | grep -q 'statically linked' || true

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
if [ -z "$kpkg" ]; then apt-get update -qq; kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'); fi
[ -n "$kpkg" ] || { echo "tiny-vm: cannot find Debian's kernel package (linux-image-amd64)" >&2; exit 1; }
(cd "$work" && apt-get download -qq "$kpkg" >/dev/null)
dpkg-deb -x "$work"/"$kpkg"_*.deb "$work/kernel"
kver=${kpkg#linux-image-}

root="$work/initramfs"
mkdir -p "$root"/{bin,sbin,proc,sys,dev,etc,tmp,run,lib/modules,usr/share/udhcpc}
cp "$(readlink -f /bin/busybox)" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
file "$root/bin/busybox" | grep -q 'statically linked' || { echo "tiny-vm: /bin/busybox is not static (install busybox-static)" >&2; exit 1; }
# virtio block and network drivers (modules in Debian's kernel), in dependency order.
moddir="$work/kernel/lib/modules/$kver/kernel"
# Whatever of these Debian builds as modules goes into the initramfs, in dependency order.
# The SATA CD-ROM and ISO9660 ones read the cloud-init seed; SCSI and IDE disks (spec bus) show too.
for m in virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net virtio_blk \
  scsi_common scsi_mod cdrom sr_mod crct10dif_common crct10dif_generic crc-t10dif crc64 crc64_rocksoft_generic \
  crc64-rocksoft t10-pi sd_mod libata libahci ahci ata_piix virtio_scsi isofs; do
  src=$(find "$moddir" -name "$m.ko" -o -name "$m.ko.xz" | head -1)
  [ -n "$src" ] || continue
  case "$src" in *.xz) xz -dc "$src" > "$root/lib/modules/$m.ko" ;; *) cp "$src" "$root/lib/modules/$m.ko" ;; esac
  echo "$m.ko" >> "$root/lib/modules/order"
done
cat > "$root/usr/share/udhcpc/default.script" <<'SH'
#!/bin/sh
case "$1" in
  bound|renew) ip addr add "$ip/${mask:-24}" dev "$interface"; [ -n "$router" ] && ip route add default via "$router"; echo "omnivisor-tiny-vm: address $ip" ;;
esac
SH
cat > "$root/init" <<'SH'
#!/bin/sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev 2>/dev/null
echo "omnivisor-tiny-vm: booted kernel $(uname -r)"
# insmod knows no dependencies: retry until a pass loads nothing new.
todo=$(cat /lib/modules/order 2>/dev/null)
for pass in 1 2 3 4 5; do left=""; for m in $todo; do insmod "/lib/modules/$m" 2>/dev/null || left="$left $m"; done; todo=$left; done
[ -n "$todo" ] && echo "omnivisor-tiny-vm: modules not loaded:$todo"
hostname "$(sed -n 's/.*omnivisor.hostname=\([^ ]*\).*/\1/p' /proc/cmdline)"
ip link set lo up
if [ -e /sys/class/net/eth0 ]; then ip link set eth0 up; udhcpc -i eth0 -q -n -t 3 -T 1 -s /usr/share/udhcpc/default.script >/dev/null 2>&1 & fi
[ -b /dev/vda ] && echo "omnivisor-tiny-vm: disk vda $(cat /sys/block/vda/size) sectors"
# cloud-init, the little of it a test needs: a NoCloud seed (ISO9660 labelled cidata, as
# cloud-init's NoCloud datasource finds it) whose meta-data names the instance and whose user-data
# final_message is printed at the end of boot, as cloud-init's final_message module does.
cidata() {
  for i in $(seq 1 150); do # up to 30 s: under load a CD-ROM shows late
    for dev in /dev/sr0 /dev/sr1 /dev/vd? /dev/sd? /dev/hd?; do
      [ -b "$dev" ] || continue
      [ "$(dd if="$dev" bs=1 skip=32808 count=6 2>/dev/null)" = cidata ] || continue
      mkdir -p /run/cidata && mount -t iso9660 -o ro "$dev" /run/cidata 2>/dev/null || continue
      echo "omnivisor-tiny-vm: cloud-init seed on $dev, $(sed -n 's/^instance-id: *//p' /run/cidata/meta-data)"
      sed -n 's/^final_message: *//p' /run/cidata/user-data | sed 's/^["'"'"']//; s/["'"'"']$//' | while read -r line; do echo "omnivisor-tiny-vm: final_message $line"; done
      return
    done
    usleep 200000
  done
}
# in the background: a guest without a seed boots no slower (the CD-ROM's probe takes a moment)
cidata &
echo "omnivisor-tiny-vm: ready"
# Ballast: with 200 MiB of RAM or more, half of it is a tmpfs file of random bytes, and 4 MiB of it
# are rewritten every 0.2 s (20 MiB/s), so a live migration has memory to move and pages that
# keep getting dirty. MemTotal is what the kernel leaves of the RAM: about 150 MiB of 200, 205 of 256.
ballast() {
  mib=$1
  mkdir -p /run/ballast && mount -t tmpfs -o size=$((mib + 16))m ballast /run/ballast || return
  dd if=/dev/urandom of=/run/ballast/seed bs=1M count=8 2>/dev/null
  # Copies of the seed, each from another 4 KiB offset: no two pages alike, none of them zero.
  i=0; while [ $i -lt $((mib / 4)) ]; do dd if=/run/ballast/seed bs=4k skip=$((i % 1024)) count=1024 2>/dev/null; i=$((i + 1)); done > /run/ballast/fill
  echo "omnivisor-tiny-vm: ballast $mib MiB, rewriting 20 MiB/s"
  off=0
  while true; do
    dd if=/run/ballast/seed of=/run/ballast/fill bs=4k skip=$((off % 1024)) seek=$((off * 1024)) count=1024 conv=notrunc 2>/dev/null
    off=$(( (off + 1) % (mib / 4) )); usleep 200000
  done
}
memory=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
[ "$memory" -ge 140 ] && ballast $((memory / 2)) &
n=0
while true; do n=$((n+1)); echo "omnivisor-tiny-vm: heartbeat $n"; sleep 1; done
SH
chmod +x "$root/init" "$root/usr/share/udhcpc/default.script"
mkdir -p "$out.tmp"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) > "$out.tmp/initrd.img"
cp "$work/kernel/boot/vmlinuz-$kver" "$out.tmp/vmlinuz"
qemu-img create -q -f qcow2 "$out.tmp/disk.qcow2" 64M
echo "$kver" > "$out.tmp/kernel-version"
echo "$version" > "$out.tmp/.ok"
rm -rf "$out"; mv "$out.tmp" "$out"
echo "$out"
