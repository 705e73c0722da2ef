// The SQL src/net needs, as one migration the store appends to its MIGRATIONS list. src/net never
// runs migrations itself; it only reads and writes these tables through NetRepository.

export const NET_MIGRATION = `
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
`;
