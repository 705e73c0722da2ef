// Schema migrations, applied in order; the index + 1 is the schema version stored in
// PRAGMA user_version. Never edit a released migration: append a new one.

export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE blobs (
    digest      TEXT PRIMARY KEY,
    size        INTEGER NOT NULL CHECK (size >= 0),
    media_type  TEXT NOT NULL,
    missing     INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL
  ) STRICT;

  CREATE TABLE images (
    digest        TEXT PRIMARY KEY,        -- manifest digest: the image's identity
    index_digest  TEXT,                    -- the index it was selected from, if any
    name          TEXT NOT NULL,           -- canonical repository or source it came from
    os            TEXT NOT NULL,
    architecture  TEXT NOT NULL,
    variant       TEXT,
    config_digest TEXT NOT NULL,
    size          INTEGER NOT NULL,        -- sum of config and compressed layer sizes
    config_json   TEXT NOT NULL,           -- the verified image config, for inspect
    created_at    TEXT NOT NULL
  ) STRICT;

  -- Which blobs each image needs. A blob's reference count is its number of rows here.
  CREATE TABLE image_blobs (
    image_digest TEXT NOT NULL REFERENCES images(digest) ON DELETE CASCADE,
    blob_digest  TEXT NOT NULL REFERENCES blobs(digest),
    role         TEXT NOT NULL CHECK (role IN ('index', 'manifest', 'config', 'layer')),
    position     INTEGER NOT NULL,
    PRIMARY KEY (image_digest, blob_digest, role, position)
  ) STRICT;
  CREATE INDEX image_blobs_by_blob ON image_blobs(blob_digest);

  CREATE TABLE tags (
    reference    TEXT PRIMARY KEY,         -- canonical reference, e.g. docker.io/library/nginx:latest
    image_digest TEXT NOT NULL REFERENCES images(digest) ON DELETE CASCADE,
    updated_at   TEXT NOT NULL
  ) STRICT;
  CREATE INDEX tags_by_image ON tags(image_digest);

  CREATE VIEW blob_refs AS
    SELECT b.digest, b.size, b.media_type, b.missing, b.created_at,
           (SELECT COUNT(*) FROM image_blobs ib WHERE ib.blob_digest = b.digest) AS ref_count
    FROM blobs b;

  -- Built app disks: one per (image, runtime config). The file is <image-hex>-<config_id>-app.ext4.
  CREATE TABLE app_disks (
    id            TEXT PRIMARY KEY,        -- <image-hex>-<config_id>
    image_digest  TEXT NOT NULL REFERENCES images(digest) ON DELETE CASCADE,
    config_id     TEXT NOT NULL,
    runtime       TEXT NOT NULL,           -- JSON of the resolved runtime config (argv, env, workdir, user)
    path          TEXT NOT NULL,
    size          INTEGER NOT NULL,
    created_at    TEXT NOT NULL
  ) STRICT;
  CREATE INDEX app_disks_by_image ON app_disks(image_digest);

  CREATE TABLE jobs (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('running', 'succeeded', 'failed', 'canceled')),
    request     TEXT NOT NULL,             -- JSON, credentials never included
    result      TEXT,                      -- JSON
    error       TEXT,                      -- JSON {code, error}
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
  ) STRICT;
  `,
  `
  -- Machines (src/machine): one row per microVM, from create until rm. Every state transition is
  -- written here before its side effect. A removed machine stays as a 'destroyed' tombstone whose
  -- name is free again (the unique index skips it).
  CREATE TABLE machines (
    id                TEXT PRIMARY KEY,          -- 32 hex; every host resource name derives from it
    name              TEXT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('created', 'starting', 'started', 'stopping', 'stopped', 'failed', 'destroyed')),
    image_reference   TEXT NOT NULL,
    image_digest      TEXT NOT NULL,
    overrides         TEXT NOT NULL,             -- JSON of the run overrides (entrypoint, cmd, env, workdir, user)
    app_disk_id       TEXT NOT NULL,
    app_disk_path     TEXT NOT NULL,
    base_version      TEXT NOT NULL,
    vcpus             INTEGER NOT NULL,
    memory_mib        INTEGER NOT NULL,
    disk_mib          INTEGER NOT NULL,
    restart_policy    TEXT NOT NULL CHECK (restart_policy IN ('no', 'on-failure', 'always')),
    restart_max       INTEGER,                   -- on-failure:N
    restart_count     INTEGER NOT NULL DEFAULT 0, -- automatic restarts since the last user start
    restart_streak    INTEGER NOT NULL DEFAULT 0, -- consecutive short runs: the backoff exponent
    restart_at        TEXT,                      -- set while an automatic restart is pending
    network           TEXT NOT NULL DEFAULT 'none',
    backend           TEXT NOT NULL CHECK (backend IN ('firecracker', 'qemu')),
    vm_pid            INTEGER,
    vm_start_time     TEXT,
    vm_control_socket TEXT,
    exit_code         INTEGER,
    exit_signal       INTEGER,
    last_error        TEXT,
    created_at        TEXT NOT NULL,
    started_at        TEXT,
    finished_at       TEXT,
    updated_at        TEXT NOT NULL
  ) STRICT;
  CREATE UNIQUE INDEX machines_name ON machines(name) WHERE state <> 'destroyed';

  -- Idempotency-Key of create requests: the request's hash and, once done, the machine it made.
  CREATE TABLE idempotency_keys (
    key           TEXT PRIMARY KEY,
    request_hash  TEXT NOT NULL,
    machine_id    TEXT,                          -- null while the first request is in flight
    created_at    TEXT NOT NULL
  ) STRICT;
  `,
  // Networking (src/net): address leases per machine and host settings to put back.
  `
  -- One row per machine that has a network, from allocate until release (destroy).
  CREATE TABLE net_leases (
    machine_id  TEXT PRIMARY KEY,
    subnet      TEXT NOT NULL UNIQUE,               -- the machine's /30, e.g. 10.231.0.4/30
    guest_ip    TEXT NOT NULL UNIQUE,
    gateway_ip  TEXT NOT NULL UNIQUE,               -- the host side, on the tap
    prefix      INTEGER NOT NULL CHECK (prefix BETWEEN 1 AND 32),
    tap         TEXT NOT NULL UNIQUE,
    mac         TEXT NOT NULL UNIQUE,
    ports       TEXT NOT NULL DEFAULT '[]',         -- JSON list of published ports
    created_at  TEXT NOT NULL
  ) STRICT;

  -- Host settings walk changed and must be able to put back, e.g. net.ipv4.ip_forward's old value.
  CREATE TABLE net_host_state (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
  ) STRICT;
`,
  // Apps (src/apps): one row per deployed walk.toml and the machine serving it.
  `
  CREATE TABLE apps (
    name                 TEXT PRIMARY KEY,          -- a DNS label, answers on <name>.localhost
    spec                 TEXT NOT NULL,             -- JSON of the validated walk.toml (AppSpec)
    generation           INTEGER NOT NULL,          -- bumped by every deploy
    machine_id           TEXT,                      -- the machine serving the app, null until first wake
    machine_generation   INTEGER,                   -- the generation that machine was created for
    snapshot_generation  INTEGER,                   -- the generation a valid suspend snapshot belongs to
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
  ) STRICT;
`,
  // Apps on several machines (src/apps): one row per machine slot that has a machine. The single
  // machine of each app moves into slot 0; specs written before max_machines existed had one machine.
  `
  CREATE TABLE app_machines (
    app                  TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
    slot                 INTEGER NOT NULL CHECK (slot >= 0),
    machine_id           TEXT NOT NULL,             -- the slot's machine (it may be stopped)
    generation           INTEGER NOT NULL,          -- the app generation it was created for
    snapshot_generation  INTEGER,                   -- the generation a valid suspend snapshot of it belongs to
    PRIMARY KEY (app, slot)
  ) STRICT;
  INSERT INTO app_machines (app, slot, machine_id, generation, snapshot_generation)
    SELECT name, 0, machine_id, COALESCE(machine_generation, 0), snapshot_generation FROM apps WHERE machine_id IS NOT NULL;
  ALTER TABLE apps DROP COLUMN machine_id;
  ALTER TABLE apps DROP COLUMN machine_generation;
  ALTER TABLE apps DROP COLUMN snapshot_generation;
  UPDATE apps SET spec = json_set(spec, '$.maxMachines', 1) WHERE json_extract(spec, '$.maxMachines') IS NULL;
`,
];
