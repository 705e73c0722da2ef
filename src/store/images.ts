// The images repository: images, their tags, the blobs they reference (reference counts are
// derived, never stored), and built app disks. Pure SQL; no files are touched here.
import type { Db } from "./db.js";
import { inTransaction } from "./db.js";

export interface BlobRecord {
  digest: string;
  size: number;
  mediaType: string;
  role: "index" | "manifest" | "config" | "layer";
}

export interface ImageRecord {
  digest: string;
  indexDigest: string | null;
  name: string;
  os: string;
  architecture: string;
  variant: string | null;
  configDigest: string;
  size: number;
  configJson: string;
  createdAt: string;
  tags: string[];
}

export interface AppDiskRecord {
  id: string;
  imageDigest: string;
  configId: string;
  runtime: string;
  path: string;
  size: number;
  createdAt: string;
}

export interface BlobRow {
  digest: string;
  size: number;
  mediaType: string;
  missing: boolean;
  refCount: number;
}

interface ImageRow {
  digest: string;
  index_digest: string | null;
  name: string;
  os: string;
  architecture: string;
  variant: string | null;
  config_digest: string;
  size: number;
  config_json: string;
  created_at: string;
}

const now = (): string => new Date().toISOString();

export class ImageRepository {
  constructor(private readonly db: Db) {}

  /** Records a pulled image, its blobs and (optionally) a tag, atomically. */
  saveImage(image: Omit<ImageRecord, "tags" | "createdAt">, blobs: readonly BlobRecord[], tag: string | null): void {
    inTransaction(this.db, () => {
      const ts = now();
      const insertBlob = this.db.prepare(
        "INSERT INTO blobs (digest, size, media_type, created_at) VALUES (?, ?, ?, ?) ON CONFLICT(digest) DO UPDATE SET missing = 0",
      );
      for (const b of blobs) insertBlob.run(b.digest, b.size, b.mediaType, ts);
      this.db
        .prepare(
          `INSERT INTO images (digest, index_digest, name, os, architecture, variant, config_digest, size, config_json, created_at)
           VALUES (@digest, @indexDigest, @name, @os, @architecture, @variant, @configDigest, @size, @configJson, @ts)
           ON CONFLICT(digest) DO UPDATE SET index_digest = COALESCE(excluded.index_digest, images.index_digest)`,
        )
        .run({ ...image, ts });
      this.db.prepare("DELETE FROM image_blobs WHERE image_digest = ?").run(image.digest);
      const link = this.db.prepare("INSERT INTO image_blobs (image_digest, blob_digest, role, position) VALUES (?, ?, ?, ?)");
      blobs.forEach((b, i) => link.run(image.digest, b.digest, b.role, i));
      if (tag !== null) {
        this.db
          .prepare(
            "INSERT INTO tags (reference, image_digest, updated_at) VALUES (?, ?, ?) ON CONFLICT(reference) DO UPDATE SET image_digest = excluded.image_digest, updated_at = excluded.updated_at",
          )
          .run(tag, image.digest, ts);
      }
    });
  }

  list(): ImageRecord[] {
    const rows = this.db.prepare("SELECT * FROM images ORDER BY created_at DESC, digest").all() as ImageRow[];
    return rows.map((r) => this.toRecord(r));
  }

  byDigest(digest: string): ImageRecord | undefined {
    const row = this.db.prepare("SELECT * FROM images WHERE digest = ?").get(digest) as ImageRow | undefined;
    return row && this.toRecord(row);
  }

  /** Images whose digest hex starts with `prefix` (for short ids as users type them). */
  byDigestPrefix(prefix: string): ImageRecord[] {
    const rows = this.db.prepare("SELECT * FROM images WHERE substr(digest, 8) LIKE ? || '%'").all(prefix) as ImageRow[];
    return rows.map((r) => this.toRecord(r));
  }

  byTag(reference: string): ImageRecord | undefined {
    const row = this.db
      .prepare("SELECT i.* FROM images i JOIN tags t ON t.image_digest = i.digest WHERE t.reference = ?")
      .get(reference) as ImageRow | undefined;
    return row && this.toRecord(row);
  }

  layers(digest: string): BlobRecord[] {
    return this.db
      .prepare(
        `SELECT b.digest, b.size, b.media_type AS mediaType, ib.role FROM image_blobs ib JOIN blobs b ON b.digest = ib.blob_digest
         WHERE ib.image_digest = ? AND ib.role = 'layer' ORDER BY ib.position`,
      )
      .all(digest) as BlobRecord[];
  }

  /** Removes a tag; returns whether it existed. */
  untag(reference: string): boolean {
    return this.db.prepare("DELETE FROM tags WHERE reference = ?").run(reference).changes > 0;
  }

  /** Deletes an image with its tags and blob references (blobs themselves stay until prune). */
  deleteImage(digest: string): boolean {
    return this.db.prepare("DELETE FROM images WHERE digest = ?").run(digest).changes > 0;
  }

  blobs(): BlobRow[] {
    const rows = this.db.prepare("SELECT * FROM blob_refs ORDER BY digest").all() as {
      digest: string;
      size: number;
      media_type: string;
      missing: number;
      ref_count: number;
    }[];
    return rows.map((r) => ({ digest: r.digest, size: r.size, mediaType: r.media_type, missing: r.missing === 1, refCount: r.ref_count }));
  }

  /** Forgets a blob row; only unreferenced blobs may go (the foreign key enforces it). */
  deleteBlob(digest: string): void {
    this.db.prepare("DELETE FROM blobs WHERE digest = ?").run(digest);
  }

  markBlobMissing(digest: string): void {
    this.db.prepare("UPDATE blobs SET missing = 1 WHERE digest = ?").run(digest);
  }

  saveAppDisk(disk: Omit<AppDiskRecord, "createdAt">): void {
    this.db
      .prepare(
        `INSERT INTO app_disks (id, image_digest, config_id, runtime, path, size, created_at) VALUES (@id, @imageDigest, @configId, @runtime, @path, @size, @ts)
         ON CONFLICT(id) DO UPDATE SET path = excluded.path, size = excluded.size`,
      )
      .run({ ...disk, ts: now() });
  }

  appDisks(imageDigest?: string): AppDiskRecord[] {
    const sql = `SELECT id, image_digest AS imageDigest, config_id AS configId, runtime, path, size, created_at AS createdAt FROM app_disks ${
      imageDigest === undefined ? "" : "WHERE image_digest = ?"
    } ORDER BY created_at`;
    const stmt = this.db.prepare(sql);
    return (imageDigest === undefined ? stmt.all() : stmt.all(imageDigest)) as AppDiskRecord[];
  }

  /** Names of the machines (not destroyed) that run `imageDigest`. */
  machinesUsing(imageDigest: string): string[] {
    return (this.db.prepare("SELECT name FROM machines WHERE image_digest = ? AND state <> 'destroyed' ORDER BY name").all(imageDigest) as { name: string }[]).map(
      (r) => r.name,
    );
  }

  /** App disk ids that machines (not destroyed) boot from. */
  appDisksInUse(): Set<string> {
    const rows = this.db.prepare("SELECT DISTINCT app_disk_id FROM machines WHERE state <> 'destroyed'").all() as { app_disk_id: string }[];
    return new Set(rows.map((r) => r.app_disk_id));
  }

  deleteAppDisk(id: string): void {
    this.db.prepare("DELETE FROM app_disks WHERE id = ?").run(id);
  }

  private toRecord(r: ImageRow): ImageRecord {
    const tags = (this.db.prepare("SELECT reference FROM tags WHERE image_digest = ? ORDER BY reference").all(r.digest) as { reference: string }[]).map(
      (t) => t.reference,
    );
    return {
      digest: r.digest,
      indexDigest: r.index_digest,
      name: r.name,
      os: r.os,
      architecture: r.architecture,
      variant: r.variant,
      configDigest: r.config_digest,
      size: r.size,
      configJson: r.config_json,
      createdAt: r.created_at,
      tags,
    };
  }
}
