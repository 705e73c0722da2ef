#!/usr/bin/env bash
# Builds walk's guest kernel (vmlinux + bzImage) from Debian's linux-source-6.1 with
# `make tinyconfig` + guest/kernel/walk.config, cached by content.
#
# Usage: guest/kernel/build.sh            prints the cache directory holding vmlinux, bzImage, config
# Cache: ${WALK_CACHE_DIR:-/var/cache/walk}/kernel/<key>/ where key = sha256 of (source package
#        version, walk.config, $recipe below). A second run with nothing changed returns at once.
# Progress goes to stderr; the only line on stdout is the output directory.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../cache.sh"
fragment="$here/walk.config"
tarball="${WALK_KERNEL_TARBALL:-/usr/src/linux-source-6.1.tar.xz}"
pkg="linux-source-6.1"
jobs="${WALK_KERNEL_JOBS:-2}"
cache="$walk_cache/kernel"
# The key holds the recipe's revision, not this script's text: an edit to comments, logging or
# caching must not cost a kernel build (minutes). Bump it with any change to what the steps below
# produce: the configure steps, make's targets or KBUILD_* variables, the files kept.
recipe=1

log() { echo "kernel: $*" >&2; }
die() { echo "kernel: error: $*" >&2; exit 1; }

[ -r "$tarball" ] || die "$tarball not found: install the Debian package $pkg (apt-get install $pkg)"
version="$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null)" || die "Debian package $pkg is not installed"
key="$( { echo "$pkg $version"; cat "$fragment"; echo "recipe $recipe"; } | cache_key)"
out="$cache/$key"
cache_hit "$out" && exit 0

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock -n 9 || { log "waiting for another kernel build to finish"; flock 9; }
# The run that held the lock may have built this very key.
cache_hit "$out" && exit 0

src="$cache/src-$version"
if [ ! -f "$src/.extracted" ]; then
  log "extracting $tarball (once per source version)"
  rm -rf "$src" && mkdir -p "$src"
  tar -xJf "$tarball" -C "$src" --strip-components=1
  touch "$src/.extracted"
fi

# One build tree per source version: kbuild rebuilds only what a config change touches.
build="$cache/build-$version"
mkdir -p "$build"
export KBUILD_BUILD_USER=walk KBUILD_BUILD_HOST=walk KBUILD_BUILD_TIMESTAMP="$pkg $version"
mk() { make -C "$src" O="$build" ARCH=x86_64 "$@"; }

log "configuring: tinyconfig + $(basename "$fragment")"
mk -s tinyconfig >/dev/null
"$src/scripts/kconfig/merge_config.sh" -m -O "$build" "$build/.config" "$fragment" >/dev/null
mk -s olddefconfig >/dev/null

missing=0
while IFS= read -r line; do
  case "$line" in
    CONFIG_*=*) grep -qxF "$line" "$build/.config" || { log "option did not stick: $line"; missing=1; } ;;
    "# CONFIG_"*" is not set")
      opt="${line#\# }"; opt="${opt%% *}"
      if grep -q "^$opt=" "$build/.config"; then log "option should be off: $opt"; missing=1; fi ;;
  esac
done <"$fragment"
[ "$missing" = 0 ] || die "the config fragment does not apply cleanly to $pkg $version"

log "compiling with -j$jobs (a clean build takes a few minutes; log: $build/make.log)"
start=$(date +%s)
if ! mk -j"$jobs" vmlinux bzImage >"$build/make.log" 2>&1; then
  tail -n 40 "$build/make.log" >&2
  die "make failed; full log in $build/make.log"
fi
log "compiled in $(( $(date +%s) - start )) s"

tmp="$cache/.tmp-$key-$$"
rm -rf "$tmp" && mkdir -p "$tmp"
cp "$build/vmlinux" "$tmp/vmlinux"
cp "$build/arch/x86/boot/bzImage" "$tmp/bzImage"
cp "$build/.config" "$tmp/config"
printf '%s\n' "$pkg $version" >"$tmp/source-version"
touch "$tmp/complete"
sync -f "$tmp/vmlinux"
rm -rf "$out"
mv "$tmp" "$out"
log "built: $out"
echo "$out"
