/**
 * The remote layout's names and its manifest (docs/remote.md): `s3://BUCKET/PREFIX` URLs, object keys
 * (`objects/<sha256><ext>`, content-addressed by the archive file's bytes as stored) and the remote manifest
 * (`PREFIX/manifest.json`): its deterministic text and its validation as untrusted input.
 */
import { RemoteError } from '../errors.js';
import { databaseNameOfArchive, isArchiveFileName, isSafeFileName } from '../archive/naming.js';
import { manifestText, parseManifest, type Manifest } from '../manifest/manifest.js';
import { compareNames } from '../sqlite/names.js';

/** The version of the remote manifest's format (its `db_hydration_remote` field). */
export const REMOTE_FORMAT_VERSION = 1;

/** Where an archive's bytes are in the bucket. */
export interface RemoteObject {
  /** The object's key relative to the prefix: `objects/<sha256><ext>`. */
  readonly object: string;
  /** SHA-256 (hex) of the archive file's bytes as stored. */
  readonly sha256: string;
  /** Size of those bytes. */
  readonly bytes: number;
}

/** The remote manifest (`PREFIX/manifest.json`), snake_case: this is stored JSON. */
export interface RemoteManifest {
  readonly db_hydration_remote: number;
  /** The archives of this state, by archive file name. */
  readonly archives: Readonly<Record<string, RemoteObject>>;
  /** The local manifest (`manifest.json` of the archive directory) that was pushed with them. */
  readonly manifest: Manifest;
}

/** What was read of the remote manifest: its content, ETag and the SHA-256 of its bytes. */
export interface RemoteState {
  readonly manifest: RemoteManifest;
  readonly etag: string | undefined;
  /** SHA-256 of the remote manifest's bytes: which state this is (recorded by the clone that pushed or pulled it). */
  readonly sha256: string;
}

/** `s3://BUCKET/PREFIX`, parsed. */
export interface S3Location {
  readonly bucket: string;
  /** The key prefix, empty or ending in `/`. */
  readonly prefix: string;
}

/**
 * Parses `s3://BUCKET/PREFIX` (the prefix may be empty or have several segments).
 * @throws {RemoteError} for anything else
 */
export function parseS3Url(url: string): S3Location {
  const match = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(url);
  const bucket = match?.[1];
  const hint =
    'give the remote as s3://BUCKET/PREFIX (--remote or `remote` in the config), e.g. s3://my-bucket/app';
  if (match === null || bucket === undefined) {
    throw new RemoteError(`${JSON.stringify(url)} is not an S3 remote URL`, { hint });
  }
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new RemoteError(`${JSON.stringify(bucket)} is not an S3 bucket name (in ${url})`, { hint });
  }
  const segments = (match[2] ?? '').split('/').filter((s) => s !== '');
  if (segments.some((s) => s === '.' || s === '..')) {
    throw new RemoteError(`the prefix of ${url} has a "." or ".." segment`, { hint });
  }
  return { bucket, prefix: segments.length === 0 ? '' : `${segments.join('/')}/` };
}

/** The object key (relative to the prefix) of an archive's bytes. */
export function objectKeyFor(archiveName: string, sha256: string): string {
  const database = databaseNameOfArchive(archiveName);
  if (database === undefined) throw new RemoteError(`${archiveName} is not an archive file name`);
  return `objects/${sha256}${archiveName.slice(database.length)}`;
}

/** The remote manifest's text: fixed field order, archives in name order, two-space indentation, final newline. */
export function remoteManifestText(remote: RemoteManifest): string {
  const archives: Record<string, RemoteObject> = {};
  for (const name of Object.keys(remote.archives).sort(compareNames)) {
    const o = remote.archives[name];
    if (o !== undefined) archives[name] = { object: o.object, sha256: o.sha256, bytes: o.bytes };
  }
  const manifest = JSON.parse(manifestText(remote.manifest)) as unknown;
  return `${JSON.stringify({ db_hydration_remote: remote.db_hydration_remote, archives, manifest }, null, 2)}\n`;
}

/**
 * Validates a remote manifest's text (it is untrusted input: anyone with write access to the bucket wrote it).
 * @throws {RemoteError} naming `where` and what is wrong
 */
export function parseRemoteManifest(text: string, where: string): RemoteManifest {
  const fail = (what: string): never => {
    throw new RemoteError(`${where} is not a db-hydration remote manifest: ${what}`, {
      file: where,
      hint: 'push from a clone that has the archives to replace it, or remove it if it is not yours',
    });
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return fail('not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    return fail('not a JSON object');
  const r = parsed as Record<string, unknown>;
  if (r.db_hydration_remote !== REMOTE_FORMAT_VERSION) {
    return fail(`db_hydration_remote is ${JSON.stringify(r.db_hydration_remote)}, this version reads 1`);
  }
  const archives = r.archives;
  if (typeof archives !== 'object' || archives === null || Array.isArray(archives))
    return fail('no archives');
  const out: Record<string, RemoteObject> = {};
  for (const [name, value] of Object.entries(archives as Record<string, unknown>)) {
    if (!isSafeFileName(name) || !isArchiveFileName(name))
      return fail(`${JSON.stringify(name)} is not an archive`);
    const o = value as Partial<Record<keyof RemoteObject, unknown>> | null;
    if (
      typeof o !== 'object' ||
      o === null ||
      typeof o.sha256 !== 'string' ||
      !/^[0-9a-f]{64}$/.test(o.sha256) ||
      typeof o.bytes !== 'number' ||
      !Number.isSafeInteger(o.bytes) ||
      o.bytes < 0 ||
      o.object !== objectKeyFor(name, o.sha256)
    )
      return fail(`the entry of ${name} is not {object, sha256, bytes}`);
    out[name] = { object: o.object, sha256: o.sha256, bytes: o.bytes };
  }
  const manifest = parseManifest(JSON.stringify(r.manifest ?? null));
  if (manifest === undefined) return fail('its manifest is not a manifest');
  for (const entry of Object.values(manifest.databases)) {
    if (out[entry.archive_path] === undefined) return fail(`no object for ${entry.archive_path}`);
  }
  return { db_hydration_remote: REMOTE_FORMAT_VERSION, archives: out, manifest };
}
