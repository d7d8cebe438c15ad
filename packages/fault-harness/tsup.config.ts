import { packageBuild } from '../../tsup.base.js';

// cli.js is `npm run test:faults`; node.js is the protected KV node (or witness) each test host runs;
// client.js is the recording client workload and the final read.
export default packageBuild({ entry: ['src/index.ts', 'src/cli.ts', 'src/node.ts', 'src/client.ts'] });
