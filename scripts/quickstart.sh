#!/usr/bin/env bash
# walk.io's quick start: installs what is missing, then runs walk's main job end to end, offline,
# on embedded defaults: builds demo images (Debian's busybox) as an OCI layout, starts a private
# walkd in a network namespace of its own, pulls the image through it, builds its app disks,
# builds the guest base, runs the image as a microVM (QEMU, or Firecracker where KVM and its
# binary are there), then deploys it as an app that boots on its first request, goes to sleep
# when idle and resumes from its snapshot. Everything lives in a temp dir and that namespace,
# both removed at exit; the host's own network is not touched.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-host.sh
npm run --silent build

work=$(mktemp -d /tmp/walk-quickstart.XXXXXX)
ns="walkqs$$"
walkd_pid=""
cleanup() {
  if [ -n "$walkd_pid" ]; then
    walk apps rm demo >/dev/null 2>&1 || true
    kill "$walkd_pid" 2>/dev/null || true
    wait "$walkd_pid" 2>/dev/null || true
  fi
  # Machines outlive walkd by design; the quick start's must not outlive the quick start.
  for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
  ip netns delete "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
in_ns() { ip netns exec "$ns" "$@"; }

echo "==> building the demo images (busybox) as an OCI layout in $work/layout"
node dist/scripts/demo-image.js "$work/layout" >/dev/null

echo "==> starting walkd in network namespace $ns (data in $work/data; its taps and activator live there)"
in_ns node dist/src/daemon/main.js --data-dir "$work/data" --runtime-dir "$work/run" --log-level warn &
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

cat >"$work/walk.toml" <<TOML
name = "demo"
image = "oci:$work/layout:web"
[[services]]
internal_port = 8080
autostop = "suspend"
idle_timeout = 2
TOML
echo "==> walk deploy -f walk.toml (an app: busybox httpd in a microVM that sleeps until its first request)"
cat "$work/walk.toml"
walk deploy -f "$work/walk.toml"
request() {
  echo "==> curl -H 'Host: demo.localhost' http://127.0.0.1:8040/   ($1)"
  in_ns curl -sS -i --max-time 60 -H 'Host: demo.localhost' http://127.0.0.1:8040/ | grep -iE '^(HTTP/|x-walk-wake|x-walk-ready-ms|hello)'
}
request "the first request boots the app's machine; walkd holds it until the app listens"
request "the app is warm now"
echo "==> waiting for the app to go idle (10 s after its wake, then idle_timeout = 2): it is suspended to a snapshot"
for _ in $(seq 1 120); do
  walk apps inspect demo | node -e 'const a = JSON.parse(require("fs").readFileSync(0, "utf8")); process.exit(a.machines[0]?.snapshot_generation != null ? 0 : 1)' && break
  sleep 0.5
done
walk apps ls
request "the next request resumes the app from its snapshot instead of booting it"
echo "==> walk apps rm demo"
walk apps rm demo
echo "==> done"
