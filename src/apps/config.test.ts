import { test } from "node:test";
import assert from "node:assert/strict";
import { isWalkError } from "../lib/index.js";
import { MAX_WALK_TOML_BYTES, parseWalkToml } from "./config.js";

const MINIMAL = `name = "web"\nimage = "nginx:1.27"\n[[services]]\ninternal_port = 80\n`;

test("walk.toml: a minimal file gets the documented defaults", () => {
  const app = parseWalkToml(MINIMAL);
  assert.deepEqual(app, {
    name: "web",
    image: "nginx:1.27",
    env: [],
    cpus: 1,
    memoryMib: 256,
    maxMachines: 1,
    services: [
      { internalPort: 80, hostnames: [], hostPort: null, autostart: true, autostop: "stop", idleTimeoutS: 300, wakeTimeoutS: 30, minMachines: 0, concurrency: { soft: 20, hard: 25 }, healthCheck: null },
    ],
  });
});

test("walk.toml: every key of a full file is read", () => {
  const app = parseWalkToml(`
name = "counter"
image = "localhost:5000/counter:2"
cpus = 2
memory_mib = 128
max_machines = 3
env = { MODE = "prod", A_B = "x=y" }

[[services]]
internal_port = 8080
hostnames = ["Counter.Example.test."]
host_port = 18080
autostart = true
autostop = "suspend"
idle_timeout = 60
wake_timeout = 20
min_machines = 2
concurrency = { soft = 5, hard = 10 }
health_check = { type = "http", path = "/healthz" }

[[services]]
internal_port = 9090
autostop = false
health_check = { type = "tcp" }
`);
  assert.deepEqual(app.env, ["A_B=x=y", "MODE=prod"]);
  assert.equal(app.cpus, 2);
  assert.equal(app.memoryMib, 128);
  assert.equal(app.maxMachines, 3);
  assert.deepEqual(app.services[0], {
    internalPort: 8080,
    hostnames: ["counter.example.test"],
    hostPort: 18080,
    autostart: true,
    autostop: "suspend",
    idleTimeoutS: 60,
    wakeTimeoutS: 20,
    minMachines: 2,
    concurrency: { soft: 5, hard: 10 },
    healthCheck: { type: "http", path: "/healthz" },
  });
  assert.equal(app.services[1]!.autostop, false);
  assert.deepEqual(app.services[1]!.healthCheck, { type: "tcp" });
});

test("walk.toml: max_machines defaults to the largest min_machines, at least 1", () => {
  const svc = (min: number): string => `[[services]]\ninternal_port = ${8000 + min}\nmin_machines = ${min}\n`;
  assert.equal(parseWalkToml(`name = "a"\nimage = "i"\n${svc(0)}`).maxMachines, 1);
  assert.equal(parseWalkToml(`name = "a"\nimage = "i"\n${svc(3)}${svc(1)}`).maxMachines, 3);
  assert.equal(parseWalkToml(`name = "a"\nimage = "i"\nmax_machines = 16\n${svc(16)}`).maxMachines, 16);
});

const BAD: Array<[string, string, RegExp]> = [
  ["not TOML", `name = `, /^app\.toml: not valid TOML at line 1/],
  ["missing name", `image = "a"\n[[services]]\ninternal_port = 1`, /^app\.toml: name: is required/],
  ["name not a label", `name = "Web_1"\nimage = "a"\n[[services]]\ninternal_port = 1`, /^app\.toml: name: "Web_1" must be a DNS label/],
  ["name not a string", `name = 3\nimage = "a"\n[[services]]\ninternal_port = 1`, /^app\.toml: name: must be a string/],
  ["missing image", `name = "a"\n[[services]]\ninternal_port = 1`, /^app\.toml: image: is required/],
  ["empty image", `name = "a"\nimage = ""\n[[services]]\ninternal_port = 1`, /^app\.toml: image: must be 1 to 4096 characters/],
  ["unknown top-level key", `name = "a"\nimage = "a"\nimgae = "b"\n[[services]]\ninternal_port = 1`, /^app\.toml: imgae: unknown key/],
  ["env not a table", `name = "a"\nimage = "a"\nenv = ["A=1"]\n[[services]]\ninternal_port = 1`, /^app\.toml: env: must be a table/],
  ["env value not a string", `name = "a"\nimage = "a"\nenv = { A = 1 }\n[[services]]\ninternal_port = 1`, /^app\.toml: env\.A: must be a string/],
  ["env bad name", `name = "a"\nimage = "a"\nenv = { "1A" = "x" }\n[[services]]\ninternal_port = 1`, /^app\.toml: env\.1A: is not a valid variable name/],
  ["cpus out of range", `name = "a"\nimage = "a"\ncpus = 0\n[[services]]\ninternal_port = 1`, /^app\.toml: cpus: must be an integer from 1 to 32/],
  ["memory too small", `name = "a"\nimage = "a"\nmemory_mib = 8\n[[services]]\ninternal_port = 1`, /^app\.toml: memory_mib: must be an integer from 32/],
  ["no services", `name = "a"\nimage = "a"`, /^app\.toml: services: is required/],
  ["services not tables", `name = "a"\nimage = "a"\nservices = [1]`, /^app\.toml: services\[0\]: must be a table/],
  ["services empty", `name = "a"\nimage = "a"\nservices = []`, /^app\.toml: services: must be one or more/],
  ["missing internal_port", `name = "a"\nimage = "a"\n[[services]]\nhost_port = 8080`, /^app\.toml: services\[0\]\.internal_port: is required/],
  ["internal_port 0", `name = "a"\nimage = "a"\n[[services]]\ninternal_port = 0`, /^app\.toml: services\[0\]\.internal_port: must be an integer from 1 to 65535/],
  ["internal_port float", `name = "a"\nimage = "a"\n[[services]]\ninternal_port = 80.5`, /services\[0\]\.internal_port: must be an integer/],
  ["unknown service key", `name = "a"\nimage = "a"\n[[services]]\ninternal_port = 1\nidle_timout = 3`, /^app\.toml: services\[0\]\.idle_timout: unknown key/],
  ["hostnames not array", `name = "a"\nimage = "a"\n[[services]]\ninternal_port = 1\nhostnames = "x.test"`, /services\[0\]\.hostnames: must be an array/],
  ["bad hostname", `name = "a"\nimage = "a"\n[[services]]\ninternal_port = 1\nhostnames = ["a b.test"]`, /services\[0\]\.hostnames\[0\]: "a b.test" is not a valid hostname/],
  ["hostname twice", `name = "a"\nimage = "a"\n[[services]]\ninternal_port = 1\nhostnames = ["x.test", "X.test"]`, /services\[0\]\.hostnames: lists a hostname twice/],
  ["host_port too big", `name = "a"\nimage = "a"\n[[services]]\ninternal_port = 1\nhost_port = 70000`, /services\[0\]\.host_port: must be an integer from 1 to 65535/],
  ["autostart not bool", `name = "a"\nimage = "a"\n[[services]]\ninternal_port = 1\nautostart = "yes"`, /services\[0\]\.autostart: must be true or false/],
  ["autostart off, nothing running", `name = "a"\nimage = "a"\n[[services]]\ninternal_port = 1\nautostart = false`, /services\[0\]\.autostart: is false with min_machines = 0/],
  ["autostop bad", `name = "a"\nimage = "a"\n[[services]]\ninternal_port = 1\nautostop = "pause"`, /services\[0\]\.autostop: must be "stop", "suspend" or false, got "pause"/],
  ["autostop true", `name = "a"\nimage = "a"\n[[services]]\ninternal_port = 1\nautostop = true`, /services\[0\]\.autostop: must be "stop", "suspend" or false, got true/],
  ["idle_timeout 0", `name = "a"\nimage = "a"\n[[services]]\ninternal_port = 1\nidle_timeout = 0`, /services\[0\]\.idle_timeout: must be an integer from 1/],
  ["wake_timeout negative", `name = "a"\nimage = "a"\n[[services]]\ninternal_port = 1\nwake_timeout = -1`, /services\[0\]\.wake_timeout: must be an integer from 1/],
  ["min_machines negative", `name = "a"\nimage = "a"\n[[services]]\ninternal_port = 1\nmin_machines = -1`, /services\[0\]\.min_machines: must be an integer from 0 to 16/],
  ["min_machines over the bound", `name = "a"\nimage = "a"\n[[services]]\ninternal_port = 1\nmin_machines = 17`, /services\[0\]\.min_machines: must be an integer from 0 to 16/],
  ["min_machines over max_machines", `name = "a"\nimage = "a"\nmax_machines = 2\n[[services]]\ninternal_port = 1\n[[services]]\ninternal_port = 2\nmin_machines = 3`, /^app\.toml: services\[1\]\.min_machines: \(3\) must not exceed max_machines \(2\)/],
  ["max_machines 0", `name = "a"\nimage = "a"\nmax_machines = 0\n[[services]]\ninternal_port = 1`, /^app\.toml: max_machines: must be an integer from 1 to 16/],
  ["max_machines over the bound", `name = "a"\nimage = "a"\nmax_machines = 17\n[[services]]\ninternal_port = 1`, /^app\.toml: max_machines: must be an integer from 1 to 16/],
  ["max_machines not an integer", `name = "a"\nimage = "a"\nmax_machines = "2"\n[[services]]\ninternal_port = 1`, /^app\.toml: max_machines: must be an integer from 1 to 16/],
  ["max_machines in a service", `name = "a"\nimage = "a"\n[[services]]\ninternal_port = 1\nmax_machines = 2`, /^app\.toml: services\[0\]\.max_machines: unknown key/],
  ["concurrency soft > hard", `name = "a"\nimage = "a"\n[[services]]\ninternal_port = 1\nconcurrency = { soft = 9, hard = 3 }`, /services\[0\]\.concurrency\.soft: \(9\) must not exceed hard \(3\)/],
  ["concurrency unknown key", `name = "a"\nimage = "a"\n[[services]]\ninternal_port = 1\nconcurrency = { max = 3 }`, /services\[0\]\.concurrency\.max: unknown key/],
  ["concurrency hard 0", `name = "a"\nimage = "a"\n[[services]]\ninternal_port = 1\nconcurrency = { hard = 0 }`, /services\[0\]\.concurrency\.hard: must be an integer from 1/],
  ["health type bad", `name = "a"\nimage = "a"\n[[services]]\ninternal_port = 1\nhealth_check = { type = "grpc" }`, /services\[0\]\.health_check\.type: must be "http" or "tcp", got "grpc"/],
  ["health http without path", `name = "a"\nimage = "a"\n[[services]]\ninternal_port = 1\nhealth_check = { type = "http" }`, /services\[0\]\.health_check\.path: is required/],
  ["health path relative", `name = "a"\nimage = "a"\n[[services]]\ninternal_port = 1\nhealth_check = { type = "http", path = "healthz" }`, /services\[0\]\.health_check\.path: "healthz" must start with \//],
  ["health tcp with path", `name = "a"\nimage = "a"\n[[services]]\ninternal_port = 1\nhealth_check = { type = "tcp", path = "/" }`, /services\[0\]\.health_check\.path: unknown key/],
  ["two services, same hostname", `name = "a"\nimage = "a"\n[[services]]\ninternal_port = 1\nhostnames = ["x.test"]\n[[services]]\ninternal_port = 2\nhostnames = ["x.test"]`, /services\[1\]\.hostnames: x\.test is already used by services\[0\]/],
  ["two services, same host port", `name = "a"\nimage = "a"\n[[services]]\ninternal_port = 1\nhost_port = 9000\n[[services]]\ninternal_port = 2\nhost_port = 9000`, /services\[1\]\.host_port: 9000 is already used by services\[0\]/],
  ["two services, same internal port", `name = "a"\nimage = "a"\n[[services]]\ninternal_port = 1\n[[services]]\ninternal_port = 1`, /services\[1\]\.internal_port: 1 is already used by services\[0\]/],
];

for (const [what, text, message] of BAD) {
  test(`walk.toml rejects: ${what}`, () => {
    assert.throws(
      () => parseWalkToml(text, "app.toml"),
      (err: unknown) => isWalkError(err, "invalid_argument") && message.test(err.message) && err.details?.file === "app.toml",
    );
  });
}

test("walk.toml rejects a file over the size bound before parsing it", () => {
  const big = MINIMAL + "#" + "x".repeat(MAX_WALK_TOML_BYTES);
  assert.throws(() => parseWalkToml(big), /walk\.toml: is larger than 262144 bytes/);
});
