#!/usr/bin/env bash
# Installs the Debian packages in scripts/host-packages.txt that are missing, then the npm
# dependencies. Safe to run again: it installs only what is absent.
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t wanted < <(grep -v '^\s*#' scripts/host-packages.txt | grep -v '^\s*$')
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "walk: missing packages: ${missing[*]}; run this script as root or: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "walk: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v node >/dev/null 2>&1 || ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
  echo "walk: Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none)); install it, e.g. from NodeSource or your distribution's backports" >&2
  exit 1
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
