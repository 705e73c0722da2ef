// The activator's proxying end to end through a real guest (QEMU TCG, walkd in namespace H, clients
// in H; setup in apps-qemu-fixture.ts). One app, one boot: its busybox workload answers a websocket
// handshake (an exact Sec-WebSocket-Accept) and then echoes bytes, streams a response a chunk a
// second until told to stop, and decodes a chunked upload. Covers: a chunked upload reaches the
// guest as the same bytes; a streamed response arrives piece by piece, intact, and keeps the app
// awake past its idle timeout; an upgraded connection echoes and keeps the app awake while open;
// closed, the app idles.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { ProbeSession, type HttpGot, type HttpUploaded, type UpgradeAnswer } from "../harness/netns.js";
import { ACTIVATOR_PORT, AppsQemu, appToml, until } from "./apps-qemu-fixture.js";

const APP = "px";
const HOST = `${APP}.localhost`;
const PORT = String(ACTIVATOR_PORT);
// RFC 6455 section 4.2.2.
const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/**
 * How long the stream runs alone: past the activator's cooldown after a wake (10 s, not settable
 * per app) plus the app's idle_timeout (1 s), with room to spare. Had the stream not counted as
 * activity, the app would have been idled within it.
 */
const STREAM_ALONE_MS = 14_000;
/** How long the upgraded connection is held alone afterwards: five idle timeouts. */
const UPGRADED_ALONE_MS = 5_000;

// The workload. busybox httpd does stream a CGI's output as it comes, but a CGI never gets the
// client's socket (so no protocol switch), so busybox nc serves instead, forking a shell per
// connection that speaks just enough HTTP/1.1 for these tests.
const SERVER = `#!/bin/sh
# With no argument: serve port 8080 with busybox nc, which forks this script again, with
# "handle", once per connection (the socket on stdin and stdout). One request per connection.
if [ "$1" != handle ]; then
  echo "proxy app starting"
  exec nc -ll -p 8080 -e /app/run.sh handle
fi
cr=$(printf '\\r')
IFS=' ' read -r method target _ || exit 0
head=
while IFS= read -r line; do
  line=\${line%"$cr"}
  [ -z "$line" ] && break
  head="$head$line
"
done
# The value of the request field named $1 (lower case).
field() { printf '%s' "$head" | awk -v n="$1" 'BEGIN { FS = ":" } tolower($1) == n { sub(/^[^:]*:[ \\t]*/, ""); print; exit }'; }
reply() { printf 'HTTP/1.1 %s\\r\\nContent-Type: text/plain\\r\\nContent-Length: %s\\r\\nConnection: close\\r\\n\\r\\n%s' "$1" "\${#2}" "$2"; }
chunk() { printf '%x\\r\\n%s\\r\\n' "\${#1}" "$1"; }
case "$method $target" in
"GET /")
  reply "200 OK" "ok
" ;;
"GET /ws")
  case "$(field upgrade) $(field connection)" in
  [Ww]eb[Ss]ocket\\ *[Uu]pgrade*) ;;
  *) reply "426 Upgrade Required" "websocket only
"; exit 0 ;;
  esac
  # RFC 6455 section 4.2.2: Sec-WebSocket-Accept is base64(SHA-1(key + this GUID)).
  accept=$(printf '%s' "$(field sec-websocket-key)258EAFA5-E914-47DA-95CA-C5AB0DC85B11" | sha1sum | cut -d' ' -f1 | xxd -r -p | base64)
  printf 'HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Accept: %s\\r\\n\\r\\n' "$accept"
  # From here on the connection is a byte stream: echo it until the client closes.
  exec cat ;;
"GET /stream")
  # A chunk a second until GET /release (at most 120), then the end: the last chunk is written
  # only after the client asked for it.
  rm -f /tmp/released
  printf 'HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\nTransfer-Encoding: chunked\\r\\nConnection: close\\r\\n\\r\\n'
  n=0
  while [ ! -e /tmp/released ] && [ "$n" -lt 120 ]; do
    n=$((n + 1))
    chunk "tick $n
"
    sleep 1
  done
  chunk "end $n
"
  printf '0\\r\\n\\r\\n' ;;
"GET /release")
  touch /tmp/released
  reply "200 OK" "released
" ;;
"POST /upload")
  # Decodes a chunked body (hex sizes, extensions ignored, trailers skipped) and answers its
  # framing, length and SHA-256.
  te=$(field transfer-encoding)
  body=/tmp/upload.$$
  : > "$body"
  if [ "$te" = chunked ]; then
    while IFS= read -r size; do
      size=\${size%"$cr"}
      size=$((0x\${size%%;*}))
      [ "$size" -eq 0 ] && break
      dd bs="$size" count=1 iflag=fullblock status=none >> "$body"
      read -r _
    done
    while IFS= read -r line && [ -n "\${line%"$cr"}" ]; do :; done
  fi
  reply "200 OK" "\${te:-none} $(wc -c < "$body") $(sha256sum < "$body" | cut -d' ' -f1)
" ;;
*)
  reply "404 Not Found" "no route
" ;;
esac
`;

let f: AppsQemu;

before(async () => {
  f = await AppsQemu.start("ap", { proxy: SERVER });
  await f.client.deploy({ config: appToml(APP, f.images.proxy!, "idle_timeout = 1\nwake_timeout = 90") });
});

after(async () => {
  await f?.close();
});

/** walkd's log lines saying the app was idled. */
const idles = (): number => f.logEntries().filter((l) => String(l.msg).startsWith("app idle")).length;

const machineState = async (id: string): Promise<string> => (await f.client.machine(id)).state;

/** When the first `bytes` bytes of the response's body had arrived (wall clock, ms). */
const arrivedBy = (r: HttpGot, bytes: number): number => r.arrivals.find((a) => a.bytes >= bytes)!.atMs;

test("a chunked upload through the proxy reaches the guest decoded, byte for byte (the first request: it boots the app)", async () => {
  // Sizes from 1 byte to 200 KB, 200 ms apart: the first ones arrive while the request is held for the boot.
  const r = await f.H.probe<HttpUploaded>(["http-upload", PORT, HOST, "/upload", "1,1000,70000,3,200000", "200"], 120_000);
  assert.equal(r.status, 200, r.body);
  assert.match(String(r.headers["x-walk-wake"]), /^boot;/);
  assert.equal(r.body, `chunked ${r.sent.bytes} ${r.sent.sha256}\n`, "the guest got a chunked body and decoded exactly the bytes sent");
});

test("a streamed response arrives chunk by chunk and keeps the app awake; an upgraded connection echoes and keeps it awake while open; closed, the app idles", async () => {
  // Awake before the stream starts, so the cooldown is already running when it does.
  const [awake] = await f.get(HOST);
  assert.equal(awake!.status, 200, awake!.body);
  const machine = (await f.client.app(APP)).machines[0]!.id;
  const idled = idles();

  const streaming = f.H.probe<HttpGot[]>(["http-get", PORT, HOST, "/stream", "1"], 180_000);
  streaming.catch(() => undefined); // awaited below; a test that fails before must not add an unhandled rejection
  await sleep(STREAM_ALONE_MS);
  assert.equal(await machineState(machine), "started", "the stream in flight keeps the machine running");
  assert.equal(idles(), idled);

  const upgraded = await ProbeSession.open(f.H, ["upgrade-client", PORT, HOST, "/ws"]);
  try {
    const hs = await upgraded.call<UpgradeAnswer>("open");
    assert.equal(hs.status, 101, hs.body);
    assert.equal(hs.headers["sec-websocket-accept"], createHash("sha1").update(hs.key + WEBSOCKET_GUID).digest("base64"));
    assert.equal(hs.headers.upgrade, "websocket");
    assert.equal(hs.headers["x-walk-wake"], "warm", "the app was not idled and woken again during the stream");
    assert.deepEqual(await upgraded.call("echo", 256 * 1024), { bytes: 256 * 1024, identical: true });

    // The guest writes the stream's last chunk only once it got this request.
    const releasedAt = Date.now();
    const [released] = await f.get(HOST, 1, "/release");
    assert.equal(released!.status, 200, released!.body);
    const [stream] = await streaming;
    assert.equal(stream!.status, 200, stream!.body);
    assert.equal(stream!.headers["x-walk-wake"], "warm");
    const lines = stream!.body.split("\n").slice(0, -1);
    const ticks = lines.length - 1;
    assert.deepEqual(lines, [...Array.from({ length: ticks }, (_, i) => `tick ${i + 1}`), `end ${ticks}`], "every chunk in order, and the end: the body is intact");
    let offset = 0;
    const arrived = lines.map((l) => arrivedBy(stream!, (offset += l.length + 1)));
    assert.ok(arrived[0]! < releasedAt, "the first chunk arrived before the guest wrote the last one");
    const early = arrived.filter((t) => t < releasedAt).length;
    assert.ok(early >= 5, `${early} of ${ticks} ticks arrived before the release: the response streamed rather than arriving whole`);
    // The guest sleeps 1 s between ticks; half of that is a bound no scheduling noise breaks.
    assert.ok(arrived[ticks - 1]! - arrived[0]! >= (ticks - 1) * 500, `ticks arrived spread over time: ${arrived.map((t) => t - arrived[0]!).join(", ")} ms`);

    // Now the upgraded connection is the only thing open.
    await sleep(UPGRADED_ALONE_MS);
    assert.equal(await machineState(machine), "started", "the open upgraded connection keeps the machine running");
    assert.equal(idles(), idled);
    assert.deepEqual(await upgraded.call("echo", 1024), { bytes: 1024, identical: true }, "the connection still echoes");
    await upgraded.call("close");
  } finally {
    await upgraded.stop();
  }
  await until("the app to idle once the connection closed", async () => (await machineState(machine)) === "stopped" && idles() === idled + 1, 120);
});
