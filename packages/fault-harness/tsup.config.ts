import { packageBuild } from '../../tsup.base.js';

// cli.js is `npm run test:faults`; node.js is the protected KV node each test host runs.
export default packageBuild({ entry: ['src/index.ts', 'src/cli.ts', 'src/node.ts'] });
