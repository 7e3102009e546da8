import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, DBHydrationManager, checkDatabase, loadConfig, openDatabase } from '../src/index.js';
import { makeDatabase, tempDir } from './helpers/fixtures.js';

function withDir(fn: (dir: string) => void): void {
  const { dir, cleanup } = tempDir('dh-config-');
  try {
    fn(dir);
  } finally {
    cleanup();
  }
}

const write = (path: string, value: unknown): void => {
  writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value));
};

describe('configuration', () => {
  it('finds db-hydration.config.json in the working directory and resolves its paths relative to the file', () => {
    withDir((dir) => {
      write(join(dir, 'db-hydration.config.json'), {
        dataDir: 'var/data',
        archiveDir: '../archives',
        databases: ['a.db'],
        busyTimeoutMs: 250,
        backupsKept: 2,
        migrationsDir: 'db/migrations',
        migrate: true,
        migrationsTable: 'schema_log',
      });
      const loaded = loadConfig({ cwd: dir });
      assert.equal(loaded.source, join(dir, 'db-hydration.config.json'));
      assert.deepEqual(loaded.config, {
        dataDir: join(dir, 'var', 'data'),
        archiveDir: join(dir, '..', 'archives'),
        databases: ['a.db'],
        busyTimeoutMs: 250,
        backupsKept: 2,
        migrationsDir: join(dir, 'db', 'migrations'),
        migrate: true,
        migrationsTable: 'schema_log',
      });
    });
  });

  it('reads the "dbHydration" key of package.json when there is no config file', () => {
    withDir((dir) => {
      write(join(dir, 'package.json'), { name: 'app', dbHydration: { dataDir: 'db' } });
      const loaded = loadConfig({ cwd: dir });
      assert.equal(loaded.source, join(dir, 'package.json'));
      assert.deepEqual(loaded.config, { dataDir: join(dir, 'db') });
    });
  });

  it('prefers the config file over package.json, and finds nothing in an empty directory', () => {
    withDir((dir) => {
      assert.deepEqual(loadConfig({ cwd: dir }), { source: undefined, config: {} });
      write(join(dir, 'package.json'), { dbHydration: { dataDir: 'from-package' } });
      write(join(dir, 'db-hydration.config.json'), { dataDir: 'from-file' });
      assert.equal(loadConfig({ cwd: dir }).config.dataDir, join(dir, 'from-file'));
    });
  });

  it('loads an explicit config path relative to its own directory, not the working directory', () => {
    withDir((dir) => {
      mkdirSync(join(dir, 'conf'));
      write(join(dir, 'conf', 'custom.json'), { dataDir: 'd' });
      const loaded = loadConfig({ cwd: dir, configPath: 'conf/custom.json' });
      assert.equal(loaded.config.dataDir, join(dir, 'conf', 'd'));
      assert.throws(
        () => loadConfig({ cwd: dir, configPath: 'nope.json' }),
        /nope\.json: the config file does not exist/,
      );
    });
  });

  it('rejects an unknown key, naming the key and the file', () => {
    withDir((dir) => {
      write(join(dir, 'db-hydration.config.json'), { dataDir: 'd', archiveDirectory: 'a' });
      assert.throws(
        () => loadConfig({ cwd: dir }),
        (e: unknown) =>
          e instanceof ConfigError &&
          e.key === 'archiveDirectory' &&
          e.message.includes('unknown key "archiveDirectory"') &&
          e.message.includes('db-hydration.config.json'),
      );
    });
  });

  it('rejects each key given a value of the wrong type, naming the key', () => {
    const wrong: Record<string, unknown> = {
      dataDir: 5,
      archiveDir: '',
      databases: 'a.db',
      busyTimeoutMs: -1,
      backupsKept: 1.5,
      migrationsDir: '',
      migrate: 'yes',
      migrationsTable: 'sqlite_log',
      remote: 'https://bucket/app',
      endpoint: 'ftp://127.0.0.1',
    };
    withDir((dir) => {
      for (const [key, value] of Object.entries(wrong)) {
        write(join(dir, 'db-hydration.config.json'), { [key]: value });
        assert.throws(
          () => loadConfig({ cwd: dir }),
          (e: unknown) => e instanceof ConfigError && e.key === key && e.message.includes(`"${key}"`),
          key,
        );
      }
    });
  });

  it('rejects a busy timeout SQLite cannot take (fractional, or beyond 2^31-1 ms), here and in the API', async () => {
    withDir((dir) => {
      for (const value of [2147483648, 2500.5]) {
        write(join(dir, 'db-hydration.config.json'), { busyTimeoutMs: value });
        assert.throws(
          () => loadConfig({ cwd: dir }),
          (e: unknown) => e instanceof ConfigError && /from 0 to 2147483647/.test(e.message),
          String(value),
        );
      }
      write(join(dir, 'db-hydration.config.json'), { busyTimeoutMs: 2147483647 });
      assert.equal(loadConfig({ cwd: dir }).config.busyTimeoutMs, 2147483647);
    });
    // Before it reaches a connection, where better-sqlite3's RangeError made a healthy database look damaged.
    assert.throws(
      () => new DBHydrationManager({ busyTimeoutMs: 3e9 }),
      /busyTimeoutMs must be a whole number/,
    );
    assert.throws(() => checkDatabase('x.db', { busyTimeoutMs: 2500.5 }), RangeError);
    await assert.rejects(openDatabase('x.db', { busyTimeoutMs: -1 }), RangeError);
  });

  it('rejects a config that is not JSON or not an object, naming the file', () => {
    withDir((dir) => {
      write(join(dir, 'db-hydration.config.json'), '{ dataDir: ');
      assert.throws(() => loadConfig({ cwd: dir }), /db-hydration\.config\.json: not valid JSON/);
      write(join(dir, 'db-hydration.config.json'), '["data"]');
      assert.throws(() => loadConfig({ cwd: dir }), /must be a JSON object/);
      write(join(dir, 'db-hydration.config.json'), '{}');
      write(join(dir, 'package.json'), { dbHydration: { dataDir: 1 } });
      assert.deepEqual(loadConfig({ cwd: dir }).config, {});
      assert.throws(
        () => loadConfig({ cwd: dir, configPath: 'package.json' }),
        /package\.json \("dbHydration"\): "dataDir"/,
      );
    });
  });
  it('checks the constructor options as the config file: out-of-range backupsKept and unknown keys are errors', () => {
    // backupsKept: -1 was accepted, and pruning then deleted the backup just made.
    for (const backupsKept of [-1, 1.5]) {
      assert.throws(
        () => new DBHydrationManager({ backupsKept }),
        (e: unknown) =>
          e instanceof ConfigError &&
          e.code === 'CONFIG' &&
          e.key === 'backupsKept' &&
          e.file === undefined &&
          /backupsKept must be a whole number: 1 or more, or 0 to keep every backup/.test(e.message),
        String(backupsKept),
      );
    }
    assert.throws(
      () => new DBHydrationManager({ backupKept: 2 } as never),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.key === 'backupKept' &&
        e.message === 'unknown option "backupKept"; did you mean "backupsKept"?',
    );
    assert.throws(
      () => new DBHydrationManager({ onProgress: 'yes' } as never),
      (e: unknown) => e instanceof ConfigError && e.key === 'onProgress',
    );
    withDir((dir) => {
      write(join(dir, 'db-hydration.config.json'), { backupKept: 2 });
      assert.throws(
        () => loadConfig({ cwd: dir }),
        (e: unknown) =>
          e instanceof ConfigError &&
          e.message.includes('unknown key "backupKept"; did you mean "backupsKept"?'),
      );
    });
  });

  it('backupsKept: 0 keeps every backup', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'app.db');
      makeDatabase(path, (db) => db.exec('CREATE TABLE t (a); INSERT INTO t VALUES (1)'));
      const manager = new DBHydrationManager({ dataDir: dir, backupsKept: 0 });
      for (let i = 0; i < 7; i++) await manager.backup(path);
      assert.equal(readdirSync(dir).filter((n) => n.endsWith('.bak')).length, 7);
    } finally {
      cleanup();
    }
  });
});
