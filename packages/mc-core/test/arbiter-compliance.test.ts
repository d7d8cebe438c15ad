import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileArbiter } from '../src/arbiter/file.js';
import { InProcessArbiter } from '../src/arbiter/in-process.js';
import { createWitnessArbiter } from '../src/arbiter/witness.js';
import { describeArbiterCompliance } from './arbiter-compliance.js';
import { spawnWitness } from './witness-process.js';

// The etcd arbiter runs the same suite in packages/arbiter-etcd/test/arbiter-compliance.test.ts.

describeArbiterCompliance('InProcessArbiter', async () => {
  const arbiter = new InProcessArbiter(10);
  return { sides: [arbiter, arbiter], ttlMs: 100, expirySlackMs: 0, close: async () => {} };
});

describeArbiterCompliance('FileArbiter (two instances on one directory)', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'mc-file-arbiter-'));
  const a = createFileArbiter({ directory, driftMarginMs: 10 });
  const b = createFileArbiter({ directory, driftMarginMs: 10 });
  return {
    sides: [a, b],
    ttlMs: 200,
    // Leases in the files are wall-clock times with millisecond resolution.
    expirySlackMs: 20,
    close: async () => rmSync(directory, { recursive: true, force: true }),
  };
});

describeArbiterCompliance('witness (server in its own process, two connections)', async () => {
  const witness = await spawnWitness();
  const a = createWitnessArbiter({ port: witness.port });
  const b = createWitnessArbiter({ port: witness.port });
  return {
    sides: [a, b],
    ttlMs: 300,
    expirySlackMs: 100,
    async close() {
      await Promise.all([a.close(), b.close()]);
      await witness.stop();
    },
  };
});
