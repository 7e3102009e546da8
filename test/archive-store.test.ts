/**
 * The store contract: every place archives live (the local directory, an S3 bucket) passes the same suite.
 * `storeContract` is run once per implementation; the S3 store runs against a real s3rver on 127.0.0.1.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { ArchiveStore } from '../src/stores/archive-store.js';
import { LocalDirectoryStore } from '../src/stores/local-directory-store.js';
import type { Manifest } from '../src/manifest/manifest.js';
import { HydrationError } from '../src/errors.js';
import { tempDir } from './helpers/fixtures.js';
import { S3Store } from '../src/stores/s3-store.js';
import { startS3Server, useS3Env, type S3Server } from './helpers/s3-server.js';

interface StoreFixture {
  readonly store: ArchiveStore;
  /** A scratch directory for local files. */
  readonly scratch: string;
  readonly cleanup: () => void;
}

const manifest = (rows: number): Manifest => ({
  timestamp: new Date().toISOString(),
  databases: {
    'shop.db': {
      archive_path: 'shop.json',
      tables_exported: 1,
      total_rows: rows,
      sha256: 'a'.repeat(64),
      bytes: 10,
      exported_at: '2026-01-01T00:00:00.000Z',
    },
  },
  total_tables: 1,
  total_rows: rows,
  errors: [],
});

function storeContract(name: string, make: () => StoreFixture): void {
  describe(`archive store contract: ${name}`, () => {
    it('an empty store lists no archives and has no manifest', async () => {
      const f = make();
      try {
        assert.deepEqual(await f.store.list(), []);
        assert.equal(await f.store.readManifest(), undefined);
      } finally {
        f.cleanup();
      }
    });

    it('put stores the bytes, fetch gives them back, list names them in name order', async () => {
      const f = make();
      try {
        const b = join(f.scratch, 'b');
        const a = join(f.scratch, 'a');
        writeFileSync(b, '{"database": "b"}\n');
        writeFileSync(a, Buffer.from([0x7b, 0x00, 0xff, 0x0a]));
        assert.equal(await f.store.putIfChanged('b.json', b), true);
        assert.equal(await f.store.putIfChanged('a.json', a), true);
        assert.deepEqual(await f.store.list(), ['a.json', 'b.json']);
        const back = join(f.scratch, 'a-back');
        await f.store.fetch('a.json', back);
        assert.deepEqual(readFileSync(back), readFileSync(a));
      } finally {
        f.cleanup();
      }
    });

    it('putting the same bytes again writes nothing; different bytes replace the archive', async () => {
      const f = make();
      try {
        const one = join(f.scratch, 'one');
        writeFileSync(one, 'first\n');
        assert.equal(await f.store.putIfChanged('shop.json', one), true);
        assert.equal(await f.store.putIfChanged('shop.json', one), false);
        const two = join(f.scratch, 'two');
        writeFileSync(two, 'second\n');
        assert.equal(await f.store.putIfChanged('shop.json', two), true);
        const back = join(f.scratch, 'back');
        await f.store.fetch('shop.json', back);
        assert.equal(readFileSync(back, 'utf8'), 'second\n');
      } finally {
        f.cleanup();
      }
    });

    it('fetching an archive the store lacks is a HydrationError naming it, and writes no file', async () => {
      const f = make();
      try {
        const target = join(f.scratch, 'nothing');
        await assert.rejects(f.store.fetch('nosuch.json', target), (error: unknown) => {
          assert.ok(error instanceof HydrationError);
          assert.equal(error.code, 'IO');
          assert.match(error.message, /nosuch\.json/);
          return true;
        });
        assert.equal(existsSync(target), false);
      } finally {
        f.cleanup();
      }
    });

    it('the manifest is written, read back, and not rewritten when only its timestamp differs', async () => {
      const f = make();
      try {
        // Archives first, the manifest last: a remote store publishes only archives that were put.
        const archive = join(f.scratch, 'shop');
        writeFileSync(archive, '{"database": "shop"}\n');
        assert.equal(await f.store.putIfChanged('shop.json', archive), true);
        assert.equal(await f.store.writeManifest(manifest(5)), true);
        assert.equal((await f.store.readManifest())?.total_rows, 5);
        assert.equal(
          await f.store.writeManifest({ ...manifest(5), timestamp: '2030-01-01T00:00:00.000Z' }),
          false,
        );
        assert.equal(await f.store.writeManifest(manifest(6)), true);
        assert.equal((await f.store.readManifest())?.total_rows, 6);
        assert.deepEqual(await f.store.list(), ['shop.json'], 'the manifest is not an archive');
      } finally {
        f.cleanup();
      }
    });
  });
}

storeContract('LocalDirectoryStore', () => {
  const { dir, cleanup } = tempDir('dh-store-');
  return { store: new LocalDirectoryStore(join(dir, 'archives')), scratch: dir, cleanup };
});

describe('LocalDirectoryStore', () => {
  it('lists only archive files: not the manifest, temp files, hidden files or other files', () => {
    const { dir, cleanup } = tempDir('dh-store-');
    try {
      for (const n of [
        'shop.json',
        'manifest.json',
        '.shop.json.dh-tmp-1-ab',
        'notes.txt',
        '.json',
        'a.json',
      ])
        writeFileSync(join(dir, n), 'x');
      assert.deepEqual(new LocalDirectoryStore(dir).listSync(), ['a.json', 'shop.json']);
    } finally {
      cleanup();
    }
  });

  it('an unchanged put leaves the archive file untouched (same inode and mtime) and leaves no temp file', async () => {
    const { dir, cleanup } = tempDir('dh-store-');
    try {
      const store = new LocalDirectoryStore(join(dir, 'archives'));
      const src = join(dir, 'src');
      writeFileSync(src, 'content\n');
      await store.putIfChanged('shop.json', src);
      const before = statSync(store.pathOf('shop.json'));
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(await store.putIfChanged('shop.json', src), false);
      const after = statSync(store.pathOf('shop.json'));
      assert.equal(after.ino, before.ino);
      assert.equal(after.mtimeMs, before.mtimeMs);
      assert.deepEqual(readdirSync(join(dir, 'archives')), ['shop.json']);
    } finally {
      cleanup();
    }
  });
});

describe('S3Store (s3rver on 127.0.0.1)', () => {
  let server: S3Server | undefined;
  let n = 0;
  before(async () => {
    useS3Env();
    server = await startS3Server();
  });
  after(async () => {
    await server?.stop();
  });
  const s3 = (): S3Server => {
    if (server === undefined) throw new Error('no server');
    return server;
  };

  storeContract('S3Store', () => {
    const { dir, cleanup } = tempDir('dh-store-s3-');
    n += 1;
    const store = new S3Store(`s3://${s3().bucket}/contract-${String(n)}`, { endpoint: s3().endpoint });
    return { store, scratch: dir, cleanup };
  });

  it('objects are content-addressed and shared; a put is published only by the manifest write', async () => {
    const { dir, cleanup } = tempDir('dh-store-s3-');
    try {
      const url = `s3://${s3().bucket}/shared`;
      const store = new S3Store(url, { endpoint: s3().endpoint });
      const file = join(dir, 'f');
      writeFileSync(file, 'same bytes\n');
      await store.putIfChanged('shop.json', file);
      await store.putIfChanged('copy.json', file);
      assert.equal(store.transfers.uploaded, 1, 'one object for two archives with the same bytes');
      const sha = createHash('sha256').update('same bytes\n').digest('hex');
      assert.deepEqual(s3().keys('shared/'), [`shared/objects/${sha}.json`]);
      const other = new S3Store(url, { endpoint: s3().endpoint });
      assert.deepEqual(await other.list(), [], 'nothing is visible before the manifest is written');
      await store.writeManifest({
        ...manifest(1),
        databases: {
          'copy.db': { archive_path: 'copy.json', tables_exported: 1, total_rows: 1 },
          'shop.db': { archive_path: 'shop.json', tables_exported: 1, total_rows: 1 },
        },
      });
      assert.deepEqual(await new S3Store(url, { endpoint: s3().endpoint }).list(), [
        'copy.json',
        'shop.json',
      ]);
    } finally {
      cleanup();
    }
  });

  it('fetch refuses an altered object, naming it and the database, and leaves no file', async () => {
    const { dir, cleanup } = tempDir('dh-store-s3-');
    try {
      const url = `s3://${s3().bucket}/altered`;
      const store = new S3Store(url, { endpoint: s3().endpoint });
      const file = join(dir, 'f');
      writeFileSync(file, '{"database": "shop"}\n');
      await store.putIfChanged('shop.json', file);
      await store.writeManifest(manifest(1));
      const [key] = s3().keys('altered/objects/');
      assert.ok(key !== undefined);
      writeFileSync(s3().objectFile(key), '{"database": "shoq"}\n');
      const target = join(dir, 'back');
      await assert.rejects(
        new S3Store(url, { endpoint: s3().endpoint }).fetch('shop.json', target),
        (e: unknown) => {
          assert.ok(e instanceof HydrationError);
          assert.equal(e.code, 'REMOTE');
          assert.ok(e.message.includes(key), e.message);
          assert.match(e.message, /database shop\b/);
          return true;
        },
      );
      assert.equal(existsSync(target), false);
    } finally {
      cleanup();
    }
  });

  it('a writer whose read is stale is refused before its PUT (the HEAD check, which works on s3rver itself)', async () => {
    const { dir, cleanup } = tempDir('dh-store-s3-');
    try {
      const url = `s3://${s3().bucket}/race`;
      const file = join(dir, 'f');
      writeFileSync(file, '{"database": "shop"}\n');
      const first = new S3Store(url, { endpoint: s3().endpoint });
      await first.putIfChanged('shop.json', file);
      await first.writeManifest(manifest(1));
      const a = new S3Store(url, { endpoint: s3().endpoint });
      const b = new S3Store(url, { endpoint: s3().endpoint });
      await a.readState();
      await b.readState();
      writeFileSync(file, '{"database": "shop", "a": 1}\n');
      await a.putIfChanged('shop.json', file);
      assert.equal(await a.writeManifest(manifest(2)), true);
      writeFileSync(file, '{"database": "shop", "b": 1}\n');
      await b.putIfChanged('shop.json', file);
      await assert.rejects(b.writeManifest(manifest(3)), (e: unknown) => {
        assert.ok(e instanceof HydrationError);
        assert.equal(e.code, 'REMOTE');
        assert.match(e.hint ?? '', /pull first/);
        return true;
      });
      assert.equal((await new S3Store(url, { endpoint: s3().endpoint }).readManifest())?.total_rows, 2);
    } finally {
      cleanup();
    }
  });

  it('what s3rver 3.7.1 does with conditional PUTs: it ignores If-Match and If-None-Match (so the tests enforce them in a proxy)', async () => {
    // If this starts failing, s3rver enforces the conditions itself and docs/remote.md ("Limits") should say so.
    const { S3Client, PutObjectCommand } = await import('@aws-sdk/client-s3');
    const client = new S3Client({ endpoint: s3().endpoint, forcePathStyle: true });
    const put = (extra: object) =>
      client.send(new PutObjectCommand({ Bucket: s3().bucket, Key: 'conditional/x', Body: 'x', ...extra }));
    await put({});
    await put({ IfNoneMatch: '*' });
    await put({ IfMatch: '"0123456789abcdef0123456789abcdef"' });
    client.destroy();
  });

  it('a remote URL that is not s3://BUCKET/PREFIX is a RemoteError with the expected form', () => {
    for (const bad of ['https://bucket/x', 's3://', 's3://Bad_Bucket/x', 's3://bucket/../x']) {
      assert.throws(
        () => new S3Store(bad),
        (e: unknown) =>
          e instanceof HydrationError && e.code === 'REMOTE' && /s3:\/\/BUCKET\/PREFIX/.test(e.hint ?? ''),
        bad,
      );
    }
  });
});
