#!/usr/bin/env bash
# Starts the host services the tests and the demo use, idempotently (a running service is left
# alone), and reports each one:
#   libvirtd + virtlogd with QEMU (KVM where /dev/kvm works, TCG otherwise), with the storage
#   pool "omnivisor" holding the test images as volumes (ADR 0015)
#   dockerd (vfs storage) with busybox:local imported from Debian's busybox-static
#   vcsim in ESX mode on 127.0.0.1:8989 (a standalone ESXi simulator)
# and builds the tiny test VM image. Exits non-zero naming the service that failed to start.
# Usage: host-services.sh [start|status|stop]
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/scripts/versions.sh"
state="$OMNIVISOR_CACHE/services"; mkdir -p "$state"
supervise="$OMNIVISOR_CACHE/bin/supervise"
VCSIM_ADDR=${VCSIM_ADDR:-127.0.0.1:8989}
failed=()

log() { printf '%-9s %s\n' "$1" "$2"; }
fail() { log "$1" "FAILED: $2"; failed+=("$1"); }
wait_until() { local n=$1; shift; for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done; return 1; }
daemon() { # name, command... : start in its own session under supervise, output to a log file
  local name=$1; shift
  setsid "$supervise" --subreaper -- "$@" >>"$state/$name.log" 2>&1 < /dev/null &
  echo $! > "$state/$name.pid"
}

libvirt_up() { virsh -c qemu:///system version; }
start_libvirt() {
  if libvirt_up >/dev/null 2>&1; then :; else
    command -v libvirtd >/dev/null || { fail libvirt "libvirtd is not installed (apt-get install libvirt-daemon-system)"; return; }
    # QEMU must run as root to open /dev/kvm here (no systemd, no kvm group setup).
    conf=/etc/libvirt/qemu.conf
    grep -q '^user = "root"' "$conf" || echo 'user = "root"' >> "$conf"
    grep -q '^group = "root"' "$conf" || echo 'group = "root"' >> "$conf"
    mkdir -p /run/libvirt /var/lib/libvirt/images
    pgrep -x virtlogd >/dev/null || virtlogd -d
    pkill -x libvirtd 2>/dev/null; rm -f /run/libvirt/libvirt-sock /run/libvirtd.pid
    # The subreaper reaps QEMU at once when a domain is destroyed (PID 1 here reaps late).
    daemon libvirtd libvirtd -p /run/libvirtd.pid
    wait_until 150 libvirt_up || { fail libvirt "libvirtd did not answer on qemu:///system within 30 s; see $state/libvirtd.log"; return; }
  fi
  # The default NAT network gives guests DHCP addresses (needs dnsmasq-base).
  netinfo=$(virsh -c qemu:///system net-info default 2>/dev/null)
  if ! grep -q 'Active:.*yes' <<<"$netinfo"; then
    virsh -c qemu:///system net-start default >/dev/null 2>&1 || log libvirt "warning: network 'default' did not start (is dnsmasq-base installed?)"
  fi
  if [ -r /dev/kvm ] && [ -w /dev/kvm ] && virsh -c qemu:///system domcapabilities --virttype kvm >/dev/null 2>&1; then
    accel=KVM
    # PVM (pagetable-based nested KVM without VT-x) emulates unmodified guests instruction by
    # instruction: a stock kernel boots far slower than under TCG. Tests boot the tiny VM with TCG.
    [ -d /sys/module/kvm_pvm ] && accel="KVM (kvm_pvm: stock guests are emulated; TCG boots them faster)"
  else accel="TCG (no usable /dev/kvm)"; fi
  echo "$accel" > "$state/libvirt-accel"
  log libvirt "up: qemu:///system, libvirt $(virsh -c qemu:///system version 2>/dev/null | awk '/Using library/ {print $4}'), accelerator $accel"
}

docker_up() { docker -H unix:///var/run/docker.sock info; }
docker_gone() { ! pgrep -x dockerd && ! pgrep -f "containerd --config /var/run/docker/containerd"; }
start_docker() {
  if ! docker_up >/dev/null 2>&1; then
    command -v dockerd >/dev/null || { fail docker "dockerd is not installed (apt-get install docker.io)"; return; }
    # a dockerd that is going (killed by hand) must be gone, and its containerd with it: a new
    # dockerd that meets the old containerd's socket times out waiting for its own
    pkill -x dockerd 2>/dev/null
    wait_until 150 docker_gone || { fail docker "an earlier dockerd or its containerd did not exit within 30 s"; return; }
    rm -f /var/run/docker.pid
    daemon dockerd dockerd --storage-driver=vfs --host=unix:///var/run/docker.sock
    wait_until 150 docker_up || { fail docker "dockerd did not answer on /var/run/docker.sock within 30 s; see $state/dockerd.log"; return; }
  fi
  if ! docker image inspect busybox:local >/dev/null 2>&1; then
    [ -x /bin/busybox ] || { fail docker "busybox-static is not installed (needed for the busybox:local image)"; return; }
    rootfs=$(mktemp -d)
    mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,tmp,proc,sys,dev,etc}
    cp "$(readlink -f /bin/busybox)" "$rootfs/bin/busybox"
    chroot "$rootfs" /bin/busybox --install -s
    echo 'root:x:0:0:root:/root:/bin/sh' > "$rootfs/etc/passwd"
    tar -C "$rootfs" -c . | docker import -c 'CMD ["/bin/sh"]' - busybox:local >/dev/null || { rm -rf "$rootfs"; fail docker "importing busybox:local failed"; return; }
    rm -rf "$rootfs"
  fi
  log docker "up: /var/run/docker.sock, dockerd $(docker version -f '{{.Server.Version}}' 2>/dev/null), image busybox:local"
}

vcsim_up() { [ "$(curl -ks --max-time 1 -o /dev/null -w '%{http_code}' "https://$VCSIM_ADDR/about")" = 200 ]; }
# govmomi 0.46.3's vcsim can deadlock under concurrent clients yet still answer /about; an
# inventory listing that hangs tells. A deadlocked vcsim is restarted.
vcsim_live() { timeout 5 "$VCSIM_BIN/govc" ls -u "https://user:pass@$VCSIM_ADDR/sdk" -k /ha-datacenter/vm >/dev/null 2>&1; }
start_vcsim() {
  if vcsim_up && ! vcsim_live; then
    log vcsim "deadlocked (answers /about, inventory hangs): restarting"
    pkill -f "vcsim -esx -l $VCSIM_ADDR"; sleep 0.5
  fi
  if ! vcsim_up; then
    [ -x "$VCSIM_BIN/vcsim" ] || { fail vcsim "vcsim is not built ($VCSIM_BIN/vcsim): run make tools"; return; }
    pkill -f "vcsim -esx -l $VCSIM_ADDR" 2>/dev/null
    daemon vcsim "$VCSIM_BIN/vcsim" -esx -l "$VCSIM_ADDR"
    wait_until 100 vcsim_up || { fail vcsim "vcsim did not answer on https://$VCSIM_ADDR within 20 s; see $state/vcsim.log"; return; }
  fi
  log vcsim "up: https://$VCSIM_ADDR/sdk (standalone ESXi simulator, govmomi $VCSIM_VERSION)"
}

tiny_vm() {
  if img=$(bash "$here/scripts/tiny-vm.sh" 2>"$state/tiny-vm.log"); then log tiny-vm "ready: $img"; else fail tiny-vm "image build failed: $(tail -3 "$state/tiny-vm.log")"; fi
  if img=$(bash "$here/scripts/idle-vm.sh" 2>"$state/idle-vm.log"); then log idle-vm "ready: $img"; else fail idle-vm "image build failed: $(tail -3 "$state/idle-vm.log")"; fi
}

# The Redfish BMC emulator (sushy-tools) in a venv, for the fencing client's protocol test.
bmc_emulators() {
  if venv=$(bash "$here/scripts/bmc-emulators.sh" 2>"$state/bmc-emulators.log"); then log bmc-emulators "ready: $venv (sushy-tools $SUSHY_TOOLS_VERSION, virtualbmc $VIRTUALBMC_VERSION)"; else fail bmc-emulators "install failed: $(tail -3 "$state/bmc-emulators.log")"; fi
}

# The driver's default pool, as it would make it on any host, and the test images in it as
# volumes (tiny-vm.qcow2 / .vmlinuz / .initrd, idle-vm.qcow2 / .vmlinuz), uploaded through
# libvirt's API like a remote host gets them. Parts already there are kept, unless the image was
# rebuilt (a new version of tiny-vm.sh): a kernel or initrd volume whose size differs from the file
# is replaced.
POOL=omnivisor POOL_PATH=/var/lib/libvirt/omnivisor
images_pool() {
  local c=(virsh -q -c "${POOL_URI:-qemu:///system}")
  if ! "${c[@]}" pool-info "$POOL" >/dev/null 2>&1; then
    "${c[@]}" pool-define-as "$POOL" dir --target "$POOL_PATH" >/dev/null || { fail pool "defining storage pool $POOL failed"; return; }
    "${c[@]}" pool-autostart "$POOL" >/dev/null
  fi
  "${c[@]}" pool-build "$POOL" >/dev/null 2>&1
  local info; info=$("${c[@]}" pool-info "$POOL" 2>/dev/null) # not piped into grep -q: pipefail would see SIGPIPE
  grep -q 'State:.*running' <<<"$info" || "${c[@]}" pool-start "$POOL" >/dev/null || { fail pool "starting storage pool $POOL failed"; return; }
  local image part file vol
  for image in tiny-vm idle-vm; do
    for part in disk.qcow2:qcow2 vmlinuz:vmlinuz initrd.img:initrd; do
      file="$OMNIVISOR_CACHE/images/$image/${part%%:*}" vol="$image.${part##*:}"
      [ -f "$file" ] || continue
      if info=$("${c[@]}" vol-info --bytes --pool "$POOL" "$vol" 2>/dev/null); then
        # (a qcow2 base reports its virtual size, not the file's: it is a blank disk, kept as it is)
        [ "${part##*:}" = qcow2 ] || [ "$(awk '/^Capacity:/ {print $2}' <<<"$info")" = "$(stat -c %s "$file")" ] && continue
        "${c[@]}" vol-delete --pool "$POOL" "$vol" >/dev/null || { fail pool "replacing the rebuilt $vol failed"; return; }
      fi
      "${c[@]}" vol-create-as "$POOL" "$vol" "$(stat -c %s "$file")" --format raw >/dev/null \
        && "${c[@]}" vol-upload --pool "$POOL" "$vol" "$file" \
        || { "${c[@]}" vol-delete --pool "$POOL" "$vol" >/dev/null 2>&1; fail pool "uploading $file as volume $vol failed"; return; }
    done
  done
  "${c[@]}" pool-refresh "$POOL" >/dev/null # the uploaded qcow2 bases are recognised by their header
  log pool "ready: $POOL at $POOL_PATH with images tiny-vm, idle-vm"
}

stop_all() {
  pkill -x libvirtd; pkill -x virtlogd; pkill -x dockerd; pkill -f "vcsim -esx -l $VCSIM_ADDR"
  log stopped "libvirtd, virtlogd, dockerd, vcsim (running guests and containers stop with them)"
}

case "${1:-start}" in
  start)
    [ -x "$supervise" ] || { echo "host-services: $supervise missing: run make tools" >&2; exit 1; }
    start_libvirt; start_docker; start_vcsim; tiny_vm; bmc_emulators; libvirt_up >/dev/null 2>&1 && images_pool ;;
  status)
    libvirt_up >/dev/null 2>&1 && log libvirt up || fail libvirt down
    docker_up >/dev/null 2>&1 && log docker up || fail docker down
    vcsim_up && log vcsim up || fail vcsim down ;;
  stop) stop_all; exit 0 ;;
  *) echo "usage: $0 [start|status|stop]" >&2; exit 2 ;;
esac
if ((${#failed[@]})); then echo "host services that failed: ${failed[*]}" >&2; exit 1; fi
