#!/usr/bin/env node
/** The `db-hydration` command. See docs/cli.md. */
import { run } from './cli/program.js';

process.exitCode = await run(process.argv);
