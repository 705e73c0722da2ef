#!/usr/bin/env bash
# Builds walk's base rootfs (vda): /sbin/walk-init plus the empty mountpoints it uses before it
# pivots into the app's overlay. Only walk's own content goes in, from a staging dir, with
# mkfs.ext4 -d (no loop mounts). Cached by content.
#
# Usage: guest/rootfs/build.sh WALK_INIT    prints the cache directory holding rootfs.ext4
# Cache: ${WALK_CACHE_DIR:-/var/cache/walk}/rootfs/<key>/, key = sha256 of (walk-init, this script)
set -euo pipefail

init="${1:?usage: $0 PATH_TO_WALK_INIT}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../cache.sh"
cache="$walk_cache/rootfs"
log() { echo "rootfs: $*" >&2; }

command -v mkfs.ext4 >/dev/null || { log "error: mkfs.ext4 not found: apt-get install e2fsprogs"; exit 1; }
# This script is the whole recipe and a rebuild takes under a second: its own text may be part of
# the key (the kernel's key leaves its script out, see there).
key="$( { sha256sum <"$init"; cat "${BASH_SOURCE[0]}"; } | cache_key)"
out="$cache/$key"
cache_hit "$out" && exit 0

mkdir -p "$cache"
tmp="$(mktemp -d "$cache/.tmp-$key-XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
stage="$tmp/stage"
mkdir -p "$stage"/{sbin,dev,proc,sys,mnt/app,mnt/state,mnt/root}
install -m 0755 "$init" "$stage/sbin/walk-init"
mknod -m 0600 "$stage/dev/console" c 5 1
chmod 0755 "$stage" "$stage"/{sbin,dev,mnt,mnt/app,mnt/state,mnt/root}
chmod 0555 "$stage/proc" "$stage/sys"
# mkfs.ext4 -d copies each staged file's times into the image: pin them, or two builds of the
# same init differ (and so does the base version walk reports). ctime cannot be set on the host's
# files, so debugfs sets it in the image below.
find "$stage" -exec touch -h -d @1 {} +

# Fixed UUID, hash seed and time: the same init gives the same image, byte for byte.
E2FSPROGS_FAKE_TIME=1 mkfs.ext4 -q -F -L walk-base -b 1024 -N 64 -m 0 -O ^has_journal,^resize_inode \
  -U 6c6b6177-0000-4000-8000-000000000001 -E hash_seed=6c6b6177-0000-4000-8000-000000000002,root_owner=0:0 \
  -d "$stage" "$tmp/rootfs.ext4" 2M >&2
(cd "$stage" && find . | sed -e 's|^\.||' -e 's|^$|/|' -e 's|^\(.*\)$|sif \1 ctime @1|') >"$tmp/ctimes"
E2FSPROGS_FAKE_TIME=1 debugfs -w -f "$tmp/ctimes" "$tmp/rootfs.ext4" >/dev/null 2>&1
touch "$tmp/complete"
rm -rf "$stage"
trap - EXIT
rm -rf "$out"
mv "$tmp" "$out"
log "built: $out"
echo "$out"
