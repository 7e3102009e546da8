/**
 * Where archives live: a small interface in the manner of Litestream's replica client, so that a local directory
 * today and a remote object store later are one contract. A store holds archive files by name (`shop.json`) and
 * one manifest; writers put every archive first and the manifest last, so a reader that trusts the manifest never
 * finds an entry whose archive is not there yet.
 *
 * Every implementation passes the shared contract suite in `test/archive-store.test.ts`.
 */
import type { Manifest } from '../manifest/manifest.js';

/** A place that holds archive files and their manifest. */
export interface ArchiveStore {
  /** Where the store is, for messages: a directory path or a URL. */
  readonly location: string;
  /** The archive file names the store holds (never the manifest, never temp files), in name order. */
  list(): Promise<string[]>;
  /**
   * Copies an archive's bytes, as stored, into `localPath`, which must not exist yet.
   * @throws {HydrationError} with code `IO` when the store has no archive of that name
   */
  fetch(name: string, localPath: string): Promise<void>;
  /**
   * Stores the complete file at `localPath` as archive `name`, unless the store already holds exactly these bytes.
   * The archive is replaced atomically: a reader sees the old bytes or the new ones.
   * @returns whether the store was written
   */
  putIfChanged(name: string, localPath: string): Promise<boolean>;
  /** The manifest, or `undefined` when there is none or it is not a manifest. */
  readManifest(): Promise<Manifest | undefined>;
  /**
   * Writes the manifest, last, unless the stored one already says the same (its `timestamp` aside).
   * @returns whether it was written
   */
  writeManifest(manifest: Manifest): Promise<boolean>;
}
