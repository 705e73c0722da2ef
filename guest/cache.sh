# Sourced by the guest build scripts: the cache of build outputs under
# ${WALK_CACHE_DIR:-/var/cache/walk}, one directory per key. Owns the key's form (16 hex digits of
# a sha256) and the "already built" check. What goes into a key, the build, and log() (which
# cache_hit calls) are the caller's. No key includes this file: editing it rebuilds nothing.

walk_cache="${WALK_CACHE_DIR:-/var/cache/walk}"

# cache_key < INPUTS: prints the key of everything on stdin.
cache_key() { sha256sum | cut -c1-16; }

# cache_hit DIR: when DIR holds a finished build (DIR/complete), says so and prints DIR.
cache_hit() {
  [ -f "$1/complete" ] || return 1
  log "cached: $1"
  echo "$1"
}
