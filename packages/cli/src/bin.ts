#!/usr/bin/env node
import { runCli } from './program.js';

// The exit code is set, not forced: streams flush and handles close first. A command that leaves a
// handle open would keep the process alive, which the tests would catch.
process.exitCode = await runCli(process.argv.slice(2));
