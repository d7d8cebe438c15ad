import { packageBuild } from '../../tsup.base.js';

// The NIC runs in a worker thread: its entry is built next to index.js so `new URL('./nic-worker.js',
// import.meta.url)` finds it in dist/.
export default packageBuild({ entry: ['src/index.ts', 'src/nic-worker.ts'] });
