#!/usr/bin/env bash
# Installs Node 24 LTS from the npm registry's node@24 package into the cache (the machine's
# Node 20 is end-of-life and too old for current vitest). Prints the bin directory.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/scripts/versions.sh"
dir="$OMNIVISOR_CACHE/node-$NODE_MAJOR"
bin="$dir/node_modules/.bin"
if ! "$bin/node" --version 2>/dev/null | grep -q "^v$NODE_MAJOR\."; then
  mkdir -p "$dir"
  (cd "$dir" && npm install --no-save --no-audit --no-fund --prefix . "node@$NODE_MAJOR" >/dev/null 2>&1)
  "$bin/node" --version | grep -q "^v$NODE_MAJOR\." || { echo "install-node: node@$NODE_MAJOR did not install into $dir" >&2; exit 1; }
fi
echo "$bin"
