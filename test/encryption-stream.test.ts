/**
 * Large encrypted archives stream through the age library a chunk at a time (age-codec.ts). Here every archive
 * streams (DB_HYDRATION_AGE_MEMORY_BYTES=0, the 4 KiB floor): the fail-closed property again on the streaming path
 * (rows may reach the temp build, but nothing is renamed into place before the last chunk authenticated), interop with
 * the age binary both ways, and no churn with a streamed comparison running beside a streamed write.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { DBHydrationManager } from '../src/index.js';
import {
  ageKeygen,
  contentLines,
  fileHashes,
  fileSha256,
  makeDatabase,
  rawRows,
  tempDir,
} from './helpers/fixtures.js';

const rowsOf = (path: string): unknown[] => rawRows(path, 'items');

/** age's payload: 64 KiB chunks, each with a 16-byte tag, after a 16-byte nonce that follows the header. */
const CHUNK = 64 * 1024 + 16;

function makeItems(path: string, rows: number): void {
  makeDatabase(path, (db) => {
    db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, data BLOB)');
    const insert = db.prepare('INSERT INTO items VALUES (?, ?, ?)');
    db.transaction(() => {
      for (let i = 1; i <= rows; i++)
        insert.run(i, `item ${i} ${'z'.repeat(i % 70)}`, Buffer.from([i & 255, 7]));
    })();
  });
}

describe('encrypted archives that stream', () => {
  let root: { dir: string; cleanup: () => void };
  let identity: string;
  let recipient: string;
  const saved = process.env.DB_HYDRATION_AGE_MEMORY_BYTES;
  before(() => {
    root = tempDir('dh-age-stream-');
    identity = join(root.dir, 'key.txt');
    recipient = ageKeygen(identity);
    process.env.DB_HYDRATION_AGE_MEMORY_BYTES = '0';
  });
  after(() => {
    if (saved === undefined) delete process.env.DB_HYDRATION_AGE_MEMORY_BYTES;
    else process.env.DB_HYDRATION_AGE_MEMORY_BYTES = saved;
    root.cleanup();
  });

  async function project(
    name: string,
    rows = 4000,
  ): Promise<{ dataDir: string; db: string; archive: string }> {
    const dataDir = join(root.dir, name);
    mkdirSync(dataDir);
    const db = join(dataDir, 'shop.db');
    makeItems(db, rows);
    const m = new DBHydrationManager({
      dataDir,
      encrypt: { recipients: [recipient] },
      identityFiles: [identity],
    });
    assert.deepEqual((await m.dehydrateAll()).errors, []);
    return { dataDir, db, archive: join(dataDir, 'json_archives', 'shop.json.age') };
  }

  it('Property 21 (streaming): a damaged, truncated or reordered archive is refused at any chunk; nothing is written', async () => {
    // Feature: database-hydration, Property 21: Encrypted Archive Fails Closed
    const { dataDir, archive, db } = await project('mutations');
    const good = readFileSync(archive);
    const dbHash = fileSha256(db);
    const before = fileHashes(dataDir, archive);
    const headerEnd = good.indexOf('\n---');
    const payload = good.indexOf('\n', headerEnd + 1) + 1 + 16;
    const chunks = Math.ceil((good.length - payload) / CHUNK);
    assert.ok(chunks >= 4, `the archive spans ${chunks} chunks`);
    const manager = new DBHydrationManager({ dataDir, identityFiles: [identity] });
    let refused = 0;
    /** A new file at the archive's path (the sync state's base copy may be a hard link of the old one). */
    const put = (bytes: Buffer): void => {
      rmSync(archive);
      writeFileSync(archive, bytes);
    };
    const check = async (bytes: Buffer, what: string): Promise<void> => {
      put(bytes);
      const result = await manager.hydrateAll({ force: true });
      assert.equal(result.errorDetails.length, 1, `${what}: refused`);
      assert.equal(
        result.errorDetails[0]?.code,
        'ARCHIVE_ENCRYPTION',
        `${what}: ${result.errors.join('; ')}`,
      );
      assert.equal(result.errorDetails[0].file, archive, `${what}: the error names the file`);
      assert.equal(fileSha256(db), dbHash, `${what}: the database is untouched`);
      assert.deepEqual(fileHashes(dataDir, archive), before, `${what}: no file was written`);
      refused++;
    };
    const cuts = new Set<number>([headerEnd, payload - 1]);
    for (let k = 1; k <= chunks; k++) {
      const at = payload + k * CHUNK;
      for (const c of [at - 1, at, at + 1]) if (c > 0 && c < good.length) cuts.add(c);
    }
    cuts.add(good.length - 1);
    for (const cut of cuts) await check(good.subarray(0, cut), `truncated at ${cut}`);
    const chunk = (k: number): Buffer => good.subarray(payload + k * CHUNK, payload + (k + 1) * CHUNK);
    const head = good.subarray(0, payload);
    const rest = (from: number): Buffer => good.subarray(payload + from * CHUNK);
    await check(Buffer.concat([head, chunk(0), chunk(2), chunk(1), rest(3)]), 'chunks 1 and 2 swapped');
    await check(Buffer.concat([head, chunk(0), chunk(1), chunk(1), rest(2)]), 'chunk 1 repeated');
    await check(Buffer.concat([head, chunk(0), rest(2)]), 'chunk 1 dropped');
    // Flipped bits, weighted towards the later chunks: there the earlier chunks' rows are already in the temp build.
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.integer({ min: payload + CHUNK, max: good.length - 1 }),
          fc.nat({ max: good.length - 1 }),
          fc.integer({ min: Math.max(0, good.length - 64), max: good.length - 1 }),
        ),
        fc.integer({ min: 0, max: 7 }),
        async (at, bit) => {
          const bytes = Buffer.from(good);
          bytes[at] = (bytes[at] ?? 0) ^ (1 << bit);
          await check(bytes, `bit ${bit} of byte ${at} flipped`);
        },
      ),
      { numRuns: 100 },
    );
    assert.ok(refused >= 100 + cuts.size + 3);
    put(good);
    assert.deepEqual((await manager.hydrateAll({ force: true })).errors, []);
  });

  it('streams decrypt with the age binary to exactly the plain archive, an age-made file hydrates, no churn', async () => {
    const p = await project('interop', 6000);
    const decrypted = execFileSync('age', ['-d', '-i', identity, p.archive], { encoding: 'utf8' });
    const plainDir = join(root.dir, 'interop-plain');
    mkdirSync(plainDir);
    writeFileSync(join(plainDir, 'shop.db'), readFileSync(p.db));
    assert.deepEqual((await new DBHydrationManager({ dataDir: plainDir }).dehydrateAll()).errors, []);
    const plain = readFileSync(join(plainDir, 'json_archives', 'shop.json'), 'utf8');
    assert.equal(contentLines(decrypted), contentLines(plain));
    // No churn, decrypting and comparing (no sync state): a streamed read of the archive beside a streamed write.
    const bytes = readFileSync(p.archive);
    const mtime = statSync(p.archive).mtimeMs;
    rmSync(join(p.dataDir, '.db-hydration'), { recursive: true });
    const d = new Database(p.db);
    d.prepare('UPDATE items SET name = name WHERE id = 1').run();
    d.close();
    const m = new DBHydrationManager({
      dataDir: p.dataDir,
      encrypt: { recipients: [recipient] },
      identityFiles: [identity],
    });
    const again = await m.dehydrateAll();
    assert.deepEqual(again.errors, []);
    assert.equal(again.databases['shop.db']?.changed, false);
    assert.deepEqual(readFileSync(p.archive), bytes);
    assert.equal(statSync(p.archive).mtimeMs, mtime);
    // A change is written (compared while written), and the age binary reads it.
    const e = new Database(p.db);
    e.prepare("UPDATE items SET name = 'streamed change' WHERE id = 5999").run();
    e.close();
    const changed = await m.dehydrateAll();
    assert.equal(changed.databases['shop.db']?.changed, true, changed.errors.join('; '));
    assert.match(
      execFileSync('age', ['-d', '-i', identity, p.archive], { encoding: 'utf8' }),
      /"streamed change"/,
    );
    // A file the age binary encrypted hydrates through the stream.
    execFileSync('age', ['-r', recipient, '-o', p.archive, join(plainDir, 'json_archives', 'shop.json')]);
    const expected = rowsOf(join(plainDir, 'shop.db'));
    rmSync(p.db);
    const hydrated = await m.hydrateAll();
    assert.deepEqual(hydrated.errors, []);
    assert.deepEqual(rowsOf(p.db), expected);
  });
});
