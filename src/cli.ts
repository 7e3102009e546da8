#!/usr/bin/env node
/** The `db-hydration` command. See docs/cli.md. */
import { run } from './cli/program.js';

// A reader that stops early (`db-hydration --help | head`) closes the pipe: that ends the output, it is no error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(process.exitCode ?? 0);
  });
}

process.exitCode = await run(process.argv);
