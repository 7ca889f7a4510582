#!/usr/bin/env bash
# `make image`: the operator image, built on this machine with no container registry.
#   root filesystem = Debian's own packages unpacked (apt-get download + dpkg -x: glibc, libstdc++,
#   OpenSSL's CLI (the webhook certificates, ADR 0032), ipmitool and their libraries, CA certificates)
#   + Node 24 (the cached node-24 binary) + the app (src/, controllers/, drivers/, no tests) with its
#   production npm dependencies (installed into a cache dir keyed by package-lock.json, never into
#   the repo's node_modules); `docker import` of that tree (FROM scratch), user 65532.
# Writes $OMNIVISOR_CACHE/images/omnivisor-<version>.tar (docker save; tag omnivisor/operator:<version>)
# and loads it into the local dockerd. Prints the image's size.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/versions.sh
source "$here/scripts/versions.sh"

version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$here/package.json" | head -1)
tag="omnivisor/operator:$version"
out="$OMNIVISOR_CACHE/images/omnivisor-$version.tar"
node_bin=$(readlink -f "$OMNIVISOR_CACHE/node-$NODE_MAJOR/node_modules/.bin/node")
[ -x "$node_bin" ] || { echo "build-image: Node $NODE_MAJOR is not in the cache: run make node" >&2; exit 1; }
command -v docker >/dev/null && docker version >/dev/null 2>&1 || { echo "build-image: dockerd does not answer: run make services" >&2; exit 1; }

# Debian packages of the root filesystem: what node, openssl and ipmitool link against.
packages=(libc6 libgcc-s1 libstdc++6 libssl3 openssl ca-certificates
  ipmitool libfreeipmi17 freeipmi-common libreadline8 readline-common libtinfo6 libgcrypt20 libgpg-error0)
debs="$OMNIVISOR_CACHE/image-debs"
mkdir -p "$debs" "$OMNIVISOR_CACHE/images"
(cd "$debs" && for p in "${packages[@]}"; do ls "${p}"_*.deb >/dev/null 2>&1 || apt-get download -q "$p" >/dev/null; done)

# Production npm dependencies, once per package-lock.json.
lock_sum=$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -c1-16)
deps="$OMNIVISOR_CACHE/image-npm/$lock_sum"
if [ ! -f "$deps/.ok" ]; then
  rm -rf "$deps" && mkdir -p "$deps"
  cp "$here/package.json" "$here/package-lock.json" "$deps/"
  (cd "$deps" && PATH="$(dirname "$node_bin"):$PATH" npm ci --omit=dev --ignore-scripts --no-audit --no-fund >/dev/null)
  touch "$deps/.ok"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
mkdir -p "$root"
for deb in "$debs"/*.deb; do dpkg -x "$deb" "$root"; done
# Only the package set above (an older .deb left in the cache is unpacked first and overwritten).
rm -rf "$root"/usr/share/{doc,man,info,locale,lintian,bug} "$root"/etc/init.d "$root"/usr/lib/x86_64-linux-gnu/gconv
# The CA bundle update-ca-certificates would make (no maintainer scripts run here).
mkdir -p "$root/etc/ssl/certs"
find "$root/usr/share/ca-certificates" -name '*.crt' -print0 | sort -z | xargs -0 cat > "$root/etc/ssl/certs/ca-certificates.crt"
install -D -m 0755 "$node_bin" "$root/usr/local/bin/node"
mkdir -p "$root/tmp" "$root/app" && chmod 1777 "$root/tmp"
cat > "$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/usr/sbin/nologin
omnivisor:x:65532:65532:omnivisor:/app:/usr/sbin/nologin
PASSWD
cat > "$root/etc/group" <<'GROUP'
root:x:0:
omnivisor:x:65532:
GROUP
# The app: what the manager and the status watcher import, no tests.
cp "$here/package.json" "$root/app/"
(cd "$here" && tar -cf - --exclude='*.test.ts' src controllers drivers) | tar -xf - -C "$root/app"
cp -a "$deps/node_modules" "$root/app/node_modules"
# Source maps and type declarations are not run (55 MB, mostly @kubernetes/client-node's).
find "$root/app/node_modules" -type f \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -delete
printf '%s\n' "$version" > "$root/app/VERSION"

tar -C "$root" --numeric-owner --owner=0 --group=0 -cf "$work/rootfs.tar" .
docker import \
  -c 'USER 65532:65532' -c 'WORKDIR /app' -c 'ENV NODE_ENV=production' \
  -c 'ENTRYPOINT ["/usr/local/bin/node"]' -c 'CMD ["/app/src/cmd/manager.ts", "--help"]' \
  -c "LABEL org.opencontainers.image.title=omnivisor org.opencontainers.image.version=$version" \
  "$work/rootfs.tar" "$tag" >/dev/null
docker save -o "$out.tmp" "$tag" && mv "$out.tmp" "$out"
size=$(docker image inspect "$tag" --format '{{.Size}}')
echo "image $tag: $((size / 1024 / 1024)) MiB ($size bytes); docker save → $out ($(($(stat -c %s "$out") / 1024 / 1024)) MiB)"
