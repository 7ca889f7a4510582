#!/usr/bin/env bash
# The two container images the one-node test cluster needs, built here with no registry:
#   omnivisor.local/pause:3.10.2   the sandbox ("pause") image: `gcc -static` of
#                                  build/pause/linux/pause.c from the kubernetes Go module
#   omnivisor.local/busybox:1.35   a test image for pods: Debian's busybox-static with its applets
#   omnivisor.local/kubectl:1.36.3 the same plus kubectl, for pods that call the API server
# Each is written as a docker-save tarball (manifest.json, config, one layer) that
# `ctr images import` reads, cached under $OMNIVISOR_CACHE/images/node/. Prints `name path` lines.
# Needs the kubernetes module in the Go module cache (scripts/build-tools.sh puts it there).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/versions.sh
source "$here/scripts/versions.sh"
out=$OMNIVISOR_CACHE/images/node
mkdir -p "$out"
PAUSE_TAG=3.10.2
BUSYBOX_TAG=1.35

# docker_save REF ROOTFS CONFIG_JSON_FRAGMENT OUT.tar — one layer (the rootfs), reproducible.
docker_save() {
  local ref=$1 rootfs=$2 config=$3 dest=$4 work
  work=$(mktemp -d)
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$rootfs" -cf "$work/layer.tar" .
  local diff_id layer_dir config_file
  diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
  layer_dir=$diff_id
  mkdir "$work/$layer_dir" && mv "$work/layer.tar" "$work/$layer_dir/layer.tar"
  printf '{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z","config":%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"scripts/node-images.sh"}]}' \
    "$config" "$diff_id" >"$work/config.json"
  config_file=$(sha256sum "$work/config.json" | cut -d' ' -f1).json
  mv "$work/config.json" "$work/$config_file"
  printf '[{"Config":"%s","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' "$config_file" "$ref" "$layer_dir" >"$work/manifest.json"
  local repo=${ref%:*} tag=${ref##*:}
  printf '{"%s":{"%s":"%s"}}' "$repo" "$tag" "$diff_id" >"$work/repositories"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work" -cf "$dest.tmp" .
  mv "$dest.tmp" "$dest"
  rm -rf "$work"
}

pause_tar=$out/pause-$PAUSE_TAG.tar
if [ ! -s "$pause_tar" ]; then
  src=$OMNIVISOR_CACHE/go/mod/k8s.io/kubernetes@v$KUBE_VERSION/build/pause/linux/pause.c
  [ -f "$src" ] || { echo "node-images: $src is missing — run scripts/build-tools.sh first" >&2; exit 1; }
  rootfs=$(mktemp -d)
  gcc -Os -Wall -Werror -static -DVERSION="v$PAUSE_TAG-omnivisor" -o "$rootfs/pause" "$src"
  strip "$rootfs/pause"
  docker_save "omnivisor.local/pause:$PAUSE_TAG" "$rootfs" '{"Entrypoint":["/pause"],"User":"65535:65535"}' "$pause_tar"
  rm -rf "$rootfs"
fi

# busybox_rootfs DIR — Debian's busybox-static with every applet linked, /etc/passwd, /tmp.
busybox_rootfs() {
  local rootfs=$1 bb
  bb=$(readlink -f /bin/busybox)
  if [ ! -x "$bb" ] || ldd "$bb" >/dev/null 2>&1; then
    echo "node-images: /bin/busybox is not busybox-static (apt install busybox-static)" >&2; exit 1
  fi
  mkdir -p "$rootfs"/{bin,etc,tmp,proc,sys,dev,var/run}
  cp "$bb" "$rootfs/bin/busybox"
  for applet in $("$bb" --list); do [ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet"; done
  printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
  chmod 1777 "$rootfs/tmp"
}

busybox_tar=$out/busybox-$BUSYBOX_TAG.tar
if [ ! -s "$busybox_tar" ]; then
  rootfs=$(mktemp -d)
  busybox_rootfs "$rootfs"
  docker_save "omnivisor.local/busybox:$BUSYBOX_TAG" "$rootfs" '{"Cmd":["/bin/sh"],"Env":["PATH=/bin"]}' "$busybox_tar"
  rm -rf "$rootfs"
fi

# The same plus the kubectl built by build-tools.sh: a pod that talks to the API server the way
# an operator does (in-cluster config: the kubernetes Service, the service account's token and CA).
# busybox's own wget cannot: its TLS offers no cipher Go's TLS server accepts.
kubectl_tar=$out/kubectl-$KUBE_VERSION.tar
if [ ! -s "$kubectl_tar" ]; then
  [ -x "$KUBE_BIN/kubectl" ] || { echo "node-images: $KUBE_BIN/kubectl is missing — run scripts/build-tools.sh first" >&2; exit 1; }
  rootfs=$(mktemp -d)
  busybox_rootfs "$rootfs"
  cp "$KUBE_BIN/kubectl" "$rootfs/bin/kubectl"
  docker_save "omnivisor.local/kubectl:$KUBE_VERSION" "$rootfs" '{"Cmd":["/bin/sh"],"Env":["PATH=/bin"]}' "$kubectl_tar"
  rm -rf "$rootfs"
fi

echo "pause $pause_tar"
echo "busybox $busybox_tar"
echo "kubectl $kubectl_tar"
