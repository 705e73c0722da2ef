#!/usr/bin/env bash
# walk.io's quick start: installs what is missing, then runs walk's main job end to end, offline,
# on embedded defaults: builds a demo image (Debian's busybox) as an OCI layout, starts a private
# walkd, pulls the image through it, builds its app disks, builds the guest base and runs the
# image as a microVM (QEMU, or Firecracker where KVM and its binary are there). Everything lives in a temp dir, removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-host.sh
npm run --silent build

work=$(mktemp -d /tmp/walk-quickstart.XXXXXX)
walkd_pid=""
cleanup() {
  if [ -n "$walkd_pid" ]; then kill "$walkd_pid" 2>/dev/null || true; wait "$walkd_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "==> building a demo image (busybox) as an OCI layout in $work/layout"
node dist/scripts/demo-image.js "$work/layout" >/dev/null

echo "==> starting walkd (data in $work/data)"
node dist/src/daemon/main.js --data-dir "$work/data" --runtime-dir "$work/run" --log-level warn &
walkd_pid=$!
walk() { node dist/src/cli/main.js --host "unix://$work/run/walkd.sock" "$@"; }
for _ in $(seq 1 100); do
  [ -S "$work/run/walkd.sock" ] && break
  kill -0 "$walkd_pid" 2>/dev/null || { echo "walkd failed to start" >&2; exit 1; }
  sleep 0.1
done

echo "==> walk image pull oci:$work/layout:demo"
walk image pull "oci:$work/layout:demo"
echo "==> walk image build oci:$work/layout:demo (the app disk the microVM boots)"
walk image build "oci:$work/layout:demo"
echo "==> walk image build oci:$work/layout:demo -e GREETING=bonjour (a new config: derived, layers not read)"
walk image build -e GREETING=bonjour "oci:$work/layout:demo"
echo "==> walk image ls"
walk image ls
echo "==> walk image inspect oci:$work/layout:demo"
walk image inspect "oci:$work/layout:demo"

echo "==> walk base build (the guest kernel and walk-init; about 4 minutes the first time, cached after)"
walk base build
echo "==> walk doctor"
walk doctor || true
echo "==> walk run oci:$work/layout:demo (boots a microVM and streams its output)"
walk run --net none "oci:$work/layout:demo"
echo "==> walk run -e GREETING=bonjour ... -- 'echo \$GREETING from a microVM; exit 3' (its exit code is walk's)"
set +e
walk run --net none -e GREETING=bonjour "oci:$work/layout:demo" -- 'echo $GREETING from a microVM; exit 3'
code=$?
set -e
echo "walk run exited with $code"
[ "$code" = 3 ] || { echo "expected exit code 3" >&2; exit 1; }
echo "==> done"
