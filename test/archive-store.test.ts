/**
 * The store contract: every place archives live (the local directory today, a remote object store later) passes
 * the same suite. `storeContract` is run once per implementation.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ArchiveStore } from '../src/stores/archive-store.js';
import { LocalDirectoryStore } from '../src/stores/local-directory-store.js';
import type { Manifest } from '../src/manifest/manifest.js';
import { HydrationError } from '../src/errors.js';
import { tempDir } from './helpers/fixtures.js';

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
        assert.equal(await f.store.writeManifest(manifest(5)), true);
        assert.equal((await f.store.readManifest())?.total_rows, 5);
        assert.equal(
          await f.store.writeManifest({ ...manifest(5), timestamp: '2030-01-01T00:00:00.000Z' }),
          false,
        );
        assert.equal(await f.store.writeManifest(manifest(6)), true);
        assert.equal((await f.store.readManifest())?.total_rows, 6);
        assert.deepEqual(await f.store.list(), [], 'the manifest is not an archive');
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
