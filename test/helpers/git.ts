/** Real git for tests: commands run in an isolated environment (no user or system config), and db-hydration as a
 * clone's local dependency. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, type CliRun } from './cli.js';

/** `run` and `git` bound to an environment (HOME and git config isolation). */
export function gitRunner(env: () => NodeJS.ProcessEnv): {
  run: (cmd: string, args: readonly string[], cwd: string) => CliRun;
  git: (cwd: string, ...args: string[]) => string;
} {
  const run = (cmd: string, args: readonly string[], cwd: string): CliRun => {
    const r = spawnSync(cmd, args, {
      cwd,
      encoding: 'utf8',
      env: { ...process.env, ...env() },
      timeout: 120_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const git = (cwd: string, ...args: string[]): string => {
    const r = run('git', args, cwd);
    assert.equal(r.code, 0, `git ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    return r.stdout;
  };
  return { run, git };
}

/** db-hydration as a local dependency of a clone: `node_modules/.bin/db-hydration` running the built CLI. */
export function addLocalBin(dir: string): void {
  mkdirSync(join(dir, 'node_modules', '.bin'), { recursive: true });
  const bin = join(dir, 'node_modules', '.bin', 'db-hydration');
  writeFileSync(bin, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"\n`);
  chmodSync(bin, 0o755);
}
