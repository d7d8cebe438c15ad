#!/usr/bin/env node
import { runCli } from './program.js';

// `mcft ... | head` closes the pipe early: what was cut off is the reader's choice, not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

// The exit code is set, not forced: streams flush and handles close first. A command that leaves a
// handle open would keep the process alive, which the tests would catch.
process.exitCode = await runCli(process.argv.slice(2));
