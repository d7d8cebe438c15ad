import { packageBuild } from '../../tsup.base.js';

// The worker bootstrap is its own entry: a worker thread starts from a file, dist/worker-entry.js.
export default packageBuild({
  entry: { index: 'src/index.ts', 'worker-entry': 'src/guests/worker-entry.ts' },
});
