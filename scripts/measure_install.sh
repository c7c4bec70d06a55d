#!/usr/bin/env bash
# The first install from a fresh clone, as a new user makes it: wall time of `make install`, the venv's
# size, the bytes this machine received meanwhile (all interfaces but loopback) and the size of the
# package cache it filled. Empty caches: uv's and pip's point into the scratch directory.
# usage: scripts/measure_install.sh [REF]    (REF: a commit to measure instead of HEAD, e.g. a baseline)
set -euo pipefail
ref=${1:-HEAD}
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q "$repo" "$work/clone"
git -C "$work/clone" checkout -q "$ref"
export UV_CACHE_DIR="$work/uv-cache" PIP_CACHE_DIR="$work/pip-cache"
rx() { awk 'NR > 2 && $1 != "lo:" { s += $2 } END { print s }' /proc/net/dev; }
rx0=$(rx)
t0=$(date +%s.%N)
make -C "$work/clone" install >"$work/install.log" 2>&1 || { tail -20 "$work/install.log"; exit 1; }
t1=$(date +%s.%N)
rx1=$(rx)
venv=$(du -sm "$work/clone/.venv" | cut -f1)
# venv and cache together: uv hard-links the venv's files from its cache, so they share most blocks
both=$(du -smc "$work/clone/.venv" "$work"/*-cache 2>/dev/null | tail -1 | cut -f1 || true)
printf 'ref %s: make install %.0f s, venv %d MB, venv + package cache %d MB on disk, received %d MB\n' \
  "$(git -C "$work/clone" rev-parse --short HEAD)" "$(echo "$t1 - $t0" | bc)" "$venv" "${both:-0}" \
  $(((rx1 - rx0) / 1000000))
