/**
 * An S3 bucket (AWS or any S3-compatible service) as an {@link ArchiveStore}. The layout under `s3://BUCKET/PREFIX`
 * (docs/remote.md):
 *
 * - `PREFIX/objects/<sha256><ext>`: each archive's bytes as stored (`<ext>` is `.json`, `.json.gz`, `.json.age`),
 *   named by the SHA-256 of those bytes, so objects are immutable and shared by every state that holds them;
 * - `PREFIX/manifest.json`: the remote manifest, which maps archive file names to objects and carries the local
 *   manifest. It is written last, with a conditional write on the ETag read before, so a reader that trusts it
 *   never meets an archive that is not there yet and two concurrent writers cannot silently overwrite each other.
 *
 * Puts are staged: `putIfChanged` uploads the object (when the bucket lacks it) and remembers the name, and
 * `writeManifest` publishes the names its entries refer to. Until then another reader sees the previous state.
 * `fetch` verifies what it downloads against the remote manifest's hash and size before the file is kept.
 *
 * The AWS SDK is loaded on first use (a dynamic import), so commands that never touch a remote do not pay for it.
 */
import { createHash } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import type { S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { HydrationError, RemoteError } from '../errors.js';
import { archiveFileStream, hashArchiveFile, receiveArchiveFile } from '../archive/archive-file.js';
import { databaseNameOfArchive } from '../archive/naming.js';
import type { Manifest } from '../manifest/manifest.js';
import { compareNames } from '../sqlite/names.js';
import type { ArchiveStore } from './archive-store.js';
import {
  REMOTE_FORMAT_VERSION,
  objectKeyFor,
  parseRemoteManifest,
  parseS3Url,
  remoteManifestText,
  type RemoteManifest,
  type RemoteObject,
  type RemoteState,
} from './remote-manifest.js';

/** Options of {@link S3Store}. */
export interface S3StoreOptions {
  /** An S3-compatible service's URL (`http://127.0.0.1:9000`); path-style addressing is used with it. */
  readonly endpoint?: string | undefined;
}

const CREDENTIAL_ERRORS = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AccessDenied',
  'ExpiredToken',
  'InvalidToken',
  'CredentialsProviderError',
]);

/** Counts of what a store did over the network (reported by push and pull, checked by tests). */
export interface TransferCounts {
  uploaded: number;
  uploadedBytes: number;
  downloaded: number;
  downloadedBytes: number;
}

/** An S3 bucket prefix as an {@link ArchiveStore} (see the module comment and docs/remote.md). */
export class S3Store implements ArchiveStore {
  readonly location: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly endpoint: string | undefined;
  /** What this store uploaded and downloaded so far. */
  readonly transfers: TransferCounts = { uploaded: 0, uploadedBytes: 0, downloaded: 0, downloadedBytes: 0 };
  private client: Promise<S3Client> | undefined;
  /** The remote state last read (or written) by this store; `null` when read and there was none. */
  private state: RemoteState | null | undefined;
  /** Archives put since the last manifest write, by name. */
  private readonly staged = new Map<string, RemoteObject>();

  constructor(url: string, options: S3StoreOptions = {}) {
    const { bucket, prefix } = parseS3Url(url);
    this.bucket = bucket;
    this.prefix = prefix;
    this.endpoint = options.endpoint;
    this.location = `s3://${bucket}/${prefix}`;
    if (options.endpoint !== undefined && !/^https?:\/\/[^/]/.test(options.endpoint)) {
      throw new RemoteError(`the endpoint ${JSON.stringify(options.endpoint)} is not an http(s) URL`, {
        hint: 'give --endpoint (or `endpoint` in the config) as a URL, e.g. http://127.0.0.1:9000',
      });
    }
  }

  /** The full key of a path under the prefix. */
  private key(relative: string): string {
    return `${this.prefix}${relative}`;
  }

  private get manifestKey(): string {
    return this.key('manifest.json');
  }

  private async s3(): Promise<S3Client> {
    this.client ??= import('@aws-sdk/client-s3').then(
      ({ S3Client: Client }) =>
        new Client({
          // Credentials, region and profile: the SDK's default chain only (env, ~/.aws files, SSO, instance roles).
          ...(this.endpoint === undefined ? {} : { endpoint: this.endpoint, forcePathStyle: true }),
          // Several S3-compatible services reject the SDK's default CRC32 checksums; pull verifies SHA-256 itself.
          requestChecksumCalculation: 'WHEN_REQUIRED',
          responseChecksumValidation: 'WHEN_REQUIRED',
        }),
    );
    return this.client;
  }

  /** Sends a command, turning the SDK's errors into a {@link RemoteError} that says what to do. */
  private async send<T>(
    what: string,
    run: (client: S3Client, sdk: typeof import('@aws-sdk/client-s3')) => Promise<T>,
  ): Promise<T> {
    const client = await this.s3();
    const sdk = await import('@aws-sdk/client-s3');
    try {
      return await run(client, sdk);
    } catch (error) {
      throw this.remoteError(what, error);
    }
  }

  /** A {@link RemoteError} for a failed request. */
  remoteError(what: string, error: unknown): HydrationError {
    if (error instanceof HydrationError) return error;
    const e = error as Partial<S3ServiceException> & { code?: string };
    const name = e.name ?? 'Error';
    const status = e.$metadata?.httpStatusCode;
    const detail = `${name}${status === undefined ? '' : ` (HTTP ${String(status)})`}: ${e.message ?? String(error)}`;
    let hint: string;
    if (CREDENTIAL_ERRORS.has(name) || status === 403) {
      hint =
        'check the credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE and ~/.aws/credentials (the SDK default chain; docs/remote.md)';
    } else if (name === 'NoSuchBucket') {
      hint = `create the bucket ${this.bucket} or fix the remote URL`;
    } else if (/region/i.test(e.message ?? '') && status === undefined) {
      hint = 'set AWS_REGION (or region in ~/.aws/config for your profile)';
    } else if (status !== undefined && status >= 500) {
      hint = 'the service failed (after the SDK retried); try again later — nothing was half-published';
    } else if (status === undefined) {
      hint = `check that ${this.endpoint ?? 'the S3 service'} is reachable (--endpoint, network, proxy)`;
    } else {
      hint = 'see docs/remote.md';
    }
    return new RemoteError(`${this.location}: ${what} failed: ${detail}`, { hint, cause: error });
  }

  /**
   * Reads the remote manifest (and remembers its ETag for the conditional write).
   * @returns the state, or `undefined` when the remote has no manifest yet
   * @throws {RemoteError} when it cannot be read or is not a remote manifest
   */
  async readState(): Promise<RemoteState | undefined> {
    const got = await this.send('reading the remote manifest', async (client, sdk) => {
      try {
        const out = await client.send(
          new sdk.GetObjectCommand({ Bucket: this.bucket, Key: this.manifestKey }),
        );
        const text = (await out.Body?.transformToString('utf8')) ?? '';
        return { text, etag: out.ETag };
      } catch (error) {
        if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
        throw error;
      }
    });
    if (got === undefined) {
      this.state = null;
      return undefined;
    }
    const manifest = parseRemoteManifest(got.text, `${this.location}manifest.json`);
    const state = { manifest, etag: got.etag, sha256: createHash('sha256').update(got.text).digest('hex') };
    this.state = state;
    return state;
  }

  /** The state last read, reading it when it has not been. */
  private async current(): Promise<RemoteState | undefined> {
    if (this.state === undefined) return this.readState();
    return this.state ?? undefined;
  }

  /** The object an archive name stands for: staged, else in the state read. */
  private async entryOf(name: string): Promise<RemoteObject | undefined> {
    return this.staged.get(name) ?? (await this.current())?.manifest.archives[name];
  }

  async list(): Promise<string[]> {
    const names = new Set(Object.keys((await this.current())?.manifest.archives ?? {}));
    for (const name of this.staged.keys()) names.add(name);
    return [...names].sort(compareNames);
  }

  /**
   * Downloads an archive into `localPath` (a new file) and verifies its SHA-256 and size against the remote
   * manifest; on a mismatch the file is removed and nothing is left behind.
   * @throws {HydrationError} code `IO` when the remote has no such archive; {@link RemoteError} when the download
   *   fails or does not match
   */
  async fetch(name: string, localPath: string): Promise<void> {
    const entry = await this.entryOf(name);
    if (entry === undefined) {
      throw new HydrationError('IO', `${this.location}: no such archive ${name}`, {
        hint: 'run `db-hydration pull` to see the archives the remote has',
      });
    }
    const objectUrl = `${this.location}${entry.object}`;
    const got = await this.send(`downloading ${entry.object} (${name})`, async (client, sdk) => {
      const out = await client.send(
        new sdk.GetObjectCommand({ Bucket: this.bucket, Key: this.key(entry.object) }),
      );
      if (out.Body === undefined) throw new RemoteError(`${objectUrl}: the service sent no body`);
      try {
        return await receiveArchiveFile(out.Body as AsyncIterable<Uint8Array>, localPath);
      } catch (error) {
        if (existsSync(localPath)) rmSync(localPath, { force: true });
        throw error;
      }
    });
    this.transfers.downloaded += 1;
    this.transfers.downloadedBytes += got.bytes;
    if (got.sha256 !== entry.sha256 || got.bytes !== entry.bytes) {
      rmSync(localPath, { force: true });
      const database = databaseNameOfArchive(name);
      throw new RemoteError(
        `${objectUrl} (archive ${name} of database ${database ?? name}) does not match the remote manifest: ` +
          `got ${String(got.bytes)} bytes with SHA-256 ${got.sha256}, expected ${String(entry.bytes)} bytes with ${entry.sha256}`,
        {
          file: objectUrl,
          database,
          hint: 'the object is truncated or altered on the remote; nothing was written locally. Push again from a clone that has this archive intact, or pull again if the download was cut',
        },
      );
    }
  }

  /**
   * The size of an object (HEAD), or `undefined` when the bucket lacks it. An object of the right name but another
   * size (a service that kept a cut upload) is uploaded again.
   */
  private async objectSize(relative: string): Promise<number | undefined> {
    return this.send(`checking ${relative}`, async (client, sdk) => {
      try {
        const out = await client.send(
          new sdk.HeadObjectCommand({ Bucket: this.bucket, Key: this.key(relative) }),
        );
        return out.ContentLength ?? -1;
      } catch (error) {
        const e = error as Partial<S3ServiceException>;
        if (e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404)
          return undefined;
        throw error;
      }
    });
  }

  /**
   * Stages archive `name` with the bytes of `localPath`: uploads them as `objects/<sha256><ext>` unless the bucket
   * already has that object (objects are immutable, so one that exists is complete), and remembers the name for the
   * next {@link writeManifest}.
   * @returns false when the remote state already maps `name` to exactly these bytes
   */
  async putIfChanged(
    name: string,
    localPath: string,
    known: { readonly sha256: string; readonly bytes: number } = hashArchiveFile(localPath),
  ): Promise<boolean> {
    const { sha256, bytes } = known;
    const existing = await this.entryOf(name);
    if (existing?.sha256 === sha256 && existing.bytes === bytes) return false;
    const object = objectKeyFor(name, sha256);
    const inState = Object.values((await this.current())?.manifest.archives ?? {}).some(
      (o) => o.object === object && o.bytes === bytes,
    );
    if (!inState && (await this.objectSize(object)) !== bytes) await this.upload(name, object, localPath);
    this.staged.set(name, { object, sha256, bytes });
    return true;
  }

  /** Uploads a file as an object, with its length and a Content-MD5 (the service refuses a body damaged on the way). */
  private async upload(name: string, object: string, localPath: string): Promise<void> {
    const md5 = createHash('md5');
    for await (const chunk of archiveFileStream(localPath).stream) md5.update(chunk as Buffer);
    const file = archiveFileStream(localPath);
    try {
      await this.send(`uploading ${object} (${name})`, (client, sdk) =>
        client.send(
          new sdk.PutObjectCommand({
            Bucket: this.bucket,
            Key: this.key(object),
            Body: file.stream,
            ContentLength: file.bytes,
            ContentMD5: md5.digest('base64'),
            ContentType: 'application/octet-stream',
          }),
        ),
      );
    } finally {
      file.stream.destroy();
    }
    this.transfers.uploaded += 1;
    this.transfers.uploadedBytes += file.bytes;
  }

  async readManifest(): Promise<Manifest | undefined> {
    try {
      return (await this.readState())?.manifest.manifest;
    } catch (error) {
      if (error instanceof RemoteError && error.file !== undefined) return undefined; // not a remote manifest
      throw error;
    }
  }

  /**
   * Publishes `manifest` with the archives its entries name (each must have been put, or be in the state read):
   * a conditional PUT of `PREFIX/manifest.json`, `If-Match` on the ETag read before (`If-None-Match: *` when there
   * was none). The ETag is checked once more just before, for services that ignore the condition.
   * @returns false when the remote manifest already says the same (its timestamp aside)
   * @throws {RemoteError} with a "pull first" hint when someone else wrote the remote manifest since it was read
   */
  async writeManifest(manifest: Manifest): Promise<boolean> {
    return (await this.publish(manifest)) !== undefined;
  }

  /**
   * {@link writeManifest}, returning the new state (or `undefined` when nothing was written).
   */
  async publish(manifest: Manifest): Promise<RemoteState | undefined> {
    const before = await this.current();
    const archives: Record<string, RemoteObject> = {};
    for (const entry of Object.values(manifest.databases)) {
      const o = this.staged.get(entry.archive_path) ?? before?.manifest.archives[entry.archive_path];
      if (o === undefined) {
        throw new RemoteError(
          `${this.location}: the manifest names ${entry.archive_path}, which was not put`,
          {
            hint: 'put every archive before the manifest',
          },
        );
      }
      archives[entry.archive_path] = o;
    }
    const next: RemoteManifest = { db_hydration_remote: REMOTE_FORMAT_VERSION, archives, manifest };
    const text = remoteManifestText(next);
    if (
      before !== undefined &&
      remoteManifestText(before.manifest) ===
        remoteManifestText({
          ...next,
          manifest: { ...manifest, timestamp: before.manifest.manifest.timestamp },
        })
    ) {
      this.staged.clear();
      return undefined;
    }
    // Someone else's push between our read and now: refuse before writing (also on services ignoring If-Match).
    const head = await this.headManifest();
    if (head !== (before?.etag ?? null)) throw this.lostRace();
    const sha256 = createHash('sha256').update(text).digest('hex');
    const etag = await this.send('writing the remote manifest', async (client, sdk) => {
      try {
        const out = await client.send(
          new sdk.PutObjectCommand({
            Bucket: this.bucket,
            Key: this.manifestKey,
            Body: text,
            ContentType: 'application/json',
            ContentMD5: createHash('md5').update(text).digest('base64'),
            ...(before?.etag === undefined ? { IfNoneMatch: '*' } : { IfMatch: before.etag }),
          }),
        );
        return out.ETag;
      } catch (error) {
        const e = error as Partial<S3ServiceException>;
        const status = e.$metadata?.httpStatusCode;
        if (status === 412 || status === 409 || e.name === 'PreconditionFailed') {
          // A retried PUT whose first attempt did land fails its own condition: then the remote holds our text.
          const now = await this.readState().catch(() => undefined);
          if (now?.sha256 === sha256) return now.etag;
          throw this.lostRace(error);
        }
        throw error;
      }
    });
    const state = { manifest: next, etag, sha256 };
    this.state = state;
    this.staged.clear();
    return state;
  }

  /** The remote manifest's current ETag (HEAD), or `null` when there is none. */
  private async headManifest(): Promise<string | null> {
    return this.send('checking the remote manifest', async (client, sdk) => {
      try {
        const out = await client.send(
          new sdk.HeadObjectCommand({ Bucket: this.bucket, Key: this.manifestKey }),
        );
        return out.ETag ?? '';
      } catch (error) {
        const e = error as Partial<S3ServiceException>;
        if (e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404)
          return null;
        throw error;
      }
    });
  }

  private lostRace(cause?: unknown): RemoteError {
    return new RemoteError(
      `${this.location}: someone else pushed while this push was running; the remote manifest was not changed by it`,
      {
        hint: 'pull first (`db-hydration pull`), then push again; the objects already uploaded are reused',
        cause,
      },
    );
  }
}
