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
];
