#!/usr/bin/env bash
# Builds walk's whole guest base, each part cached by content, and copies it to OUTDIR:
#   OUTDIR/vmlinux  OUTDIR/bzImage  OUTDIR/config  OUTDIR/rootfs.ext4  OUTDIR/walk-init  OUTDIR/build-info
# Usage: bash guest/build-all.sh OUTDIR
#        bash guest/build-all.sh --rootfs-only OUTDIR   (walk-init and rootfs.ext4 only, no kernel)
# Cache: ${WALK_CACHE_DIR:-/var/cache/walk}/{kernel,init,rootfs}/<key>/. A run with nothing changed
# takes seconds. Progress on stderr; stdout lists the output files, one per line.
set -euo pipefail

rootfs_only=0
if [ "${1:-}" = "--rootfs-only" ]; then rootfs_only=1; shift; fi
outdir="${1:?usage: $0 [--rootfs-only] OUTDIR}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/cache.sh"

missing=()
for tool in make gcc musl-gcc flex bison bc mkfs.ext4 sha256sum flock; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
[ ${#missing[@]} -eq 0 ] || { echo "build-all: error: missing tools: ${missing[*]}" >&2; exit 1; }

[ "$rootfs_only" = 1 ] || kdir="$(bash "$here/kernel/build.sh")"

init_key="$(cd "$here/init" && cat Makefile ./*.c ./*.h | cache_key)"
idir="$walk_cache/init/$init_key"
if [ ! -f "$idir/walk-init" ]; then
  echo "init: compiling walk-init" >&2
  itmp="$walk_cache/init/.tmp-$init_key-$$"
  rm -rf "$itmp"
  make -s -C "$here/init" OUT="$itmp" >&2
  rm -rf "$idir" && mv "$itmp" "$idir"
else
  echo "init: cached: $idir" >&2
fi

rdir="$(bash "$here/rootfs/build.sh" "$idir/walk-init")"

mkdir -p "$outdir"
cp "$rdir/rootfs.ext4" "$idir/walk-init" "$outdir/"
files=(rootfs.ext4 walk-init)
{
  if [ "$rootfs_only" = 0 ]; then
    cp "$kdir/vmlinux" "$kdir/bzImage" "$kdir/config" "$outdir/"
    files+=(vmlinux bzImage config)
    echo "kernel_source=$(cat "$kdir/source-version")"
    echo "kernel_key=$(basename "$kdir")"
    echo "config_sha256=$(sha256sum <"$kdir/config" | cut -d' ' -f1)"
  fi
  echo "init_key=$init_key"
  echo "rootfs_key=$(basename "$rdir")"
} >"$outdir/build-info"
for f in "${files[@]}" build-info; do echo "$outdir/$f"; done
