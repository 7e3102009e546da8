/**
 * One error family: every error the library throws is a HydrationError subclass with a code and a hint. Each path
 * that throws is checked with instanceof here.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  ArchiveFormatError,
  ConfigError,
  DBHydrationManager,
  DatabaseLockedError,
  HydrationError,
  UsageError,
  loadConfig,
} from '../src/index.js';
import { CommandContext } from '../src/cli/context.js';
import { EXIT, run } from '../src/cli/program.js';
import { buildDatabase } from '../src/hydrate/hydrate-database.js';
import { makeDatabase, tempDir } from './helpers/fixtures.js';

describe('one error family', () => {
  it('a bad config file throws a ConfigError (code CONFIG) naming the file and the key', () => {
    const { dir, cleanup } = tempDir();
    try {
      writeFileSync(join(dir, 'db-hydration.config.json'), JSON.stringify({ backups: 2 }));
      assert.throws(
        () => loadConfig({ cwd: dir }),
        (e: unknown) =>
          e instanceof ConfigError &&
          e instanceof HydrationError &&
          e.code === 'CONFIG' &&
          e.key === 'backups' &&
          e.file === join(dir, 'db-hydration.config.json') &&
          e.hint !== undefined,
      );
    } finally {
      cleanup();
    }
  });

  it('a bad command line throws a UsageError (code USAGE), and the CLI exits 2 for it', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const missing = join(dir, 'nope.json');
      assert.throws(
        () => new CommandContext({ config: missing }),
        (e: unknown) => e instanceof UsageError && e instanceof HydrationError && e.code === 'USAGE',
      );
      const quiet = (): boolean => true;
      const write = Object.getOwnPropertyDescriptor(process.stderr, 'write');
      Object.defineProperty(process.stderr, 'write', { value: quiet, configurable: true, writable: true });
      try {
        assert.equal(await run(['node', 'db-hydration', 'status', '--config', missing]), EXIT.usage);
      } finally {
        if (write === undefined) Reflect.deleteProperty(process.stderr, 'write');
        else Object.defineProperty(process.stderr, 'write', write);
      }
    } finally {
      cleanup();
    }
  });

  it('backing up a database another connection holds locked throws a DatabaseLockedError (DATABASE_LOCKED)', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'app.db');
      makeDatabase(path, (db) => db.exec('CREATE TABLE t (a); INSERT INTO t VALUES (1)'));
      const app = new Database(path);
      try {
        app.exec('BEGIN EXCLUSIVE');
        await assert.rejects(
          new DBHydrationManager({ dataDir: dir, busyTimeoutMs: 50 }).backup(path),
          (e: unknown) =>
            e instanceof DatabaseLockedError &&
            e instanceof HydrationError &&
            e.code === 'DATABASE_LOCKED' &&
            e.file === path &&
            /in use by another connection \(waited 50 ms\)/.test(e.message) &&
            e.hint !== undefined,
        );
        app.exec('ROLLBACK');
      } finally {
        app.close();
      }
    } finally {
      cleanup();
    }
  });

  it('an archive whose rowid_key is also a column name throws an ArchiveFormatError naming the file and table', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const archivePath = join(dir, 'app.json');
      writeFileSync(
        archivePath,
        [
          '{',
          '"database": "app",',
          '"exported_at": "2026-01-01T00:00:00.000Z",',
          '"format": "db-hydration-archive",',
          '"format_version": 1,',
          '"file_name": "app.db",',
          '"pragmas": {"application_id":0,"auto_vacuum":0,"encoding":"UTF-8","journal_mode":"delete","page_size":4096,"user_version":0},',
          '"tables": {',
          '"t": {"schema": "CREATE TABLE t (rowid_x, rowid)", "rowid_key": "rowid", "row_count": 1, "rows": [',
          '{"rowid":1,"rowid_x":2}',
          ']}',
          '},',
          '"sequences": {},',
          '"objects": [],',
          '"schema_order": []',
          '}',
          '',
        ].join('\n'),
      );
      await assert.rejects(
        buildDatabase({ archivePath, dbPath: join(dir, 'app.db') }),
        (e: unknown) =>
          e instanceof ArchiveFormatError &&
          e.code === 'ARCHIVE_FORMAT' &&
          e.file === archivePath &&
          e.table === 't' &&
          /rowid_key "rowid" is also a column name/.test(e.message),
      );
    } finally {
      cleanup();
    }
  });
});
