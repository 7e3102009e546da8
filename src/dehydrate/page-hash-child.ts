/**
 * The child process that hashes the pages of a database's table b-trees while a full export reads its rows (see
 * table-pages.ts). A process of its own, so that it may open and close the database file: closing a descriptor of a
 * file drops every POSIX lock the process holds on it, and the exporting process holds SQLite's shared lock, which
 * keeps the file still while it is read.
 *
 * Usage: `node page-hash-child.js REQUEST RESULT`: REQUEST is a JSON file `{dbPath, trees: [{name, root}]}`; the
 * answer is written to RESULT (through a temp name, then renamed), always, errors included.
 */
import { closeSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hashBtrees } from '../sqlite/btree-hashes.js';
import type { PageHashRequest, PageHashResult } from './page-hash-protocol.js';

function hashPages(request: PageHashRequest): PageHashResult {
  const fd = openSync(request.dbPath, 'r');
  try {
    return { ok: true, ...hashBtrees(fd, request.trees) };
  } finally {
    closeSync(fd);
  }
}

const [requestPath, resultPath] = process.argv.slice(2);
if (requestPath === undefined || resultPath === undefined) {
  process.stderr.write('usage: page-hash-child REQUEST RESULT\n');
  process.exit(2);
}
let result: PageHashResult;
try {
  result = hashPages(JSON.parse(readFileSync(requestPath, 'utf8')) as PageHashRequest);
} catch (error) {
  result = { ok: false, error: error instanceof Error ? error.message : String(error) };
}
writeFileSync(`${resultPath}.tmp`, JSON.stringify(result));
renameSync(`${resultPath}.tmp`, resultPath);
