import { packageBuild } from '../../tsup.base.js';

// Each worker thread starts from a file of its own: the worker guest's bootstrap
// (dist/worker-entry.js) and the capture helper (dist/capture-helper-entry.js).
export default packageBuild({
  entry: {
    index: 'src/index.ts',
    'worker-entry': 'src/guests/worker-entry.ts',
    'capture-helper-entry': 'src/capture-helper-entry.ts',
  },
});
