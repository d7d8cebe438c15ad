import { packageBuild } from '../../tsup.base.js';

// main.js runs the service for real Redis clients (redis-cli, redis-benchmark); protected.js runs it
// as a primary or secondary node under micro-checkpointing.
export default packageBuild({ entry: ['src/index.ts', 'src/main.ts', 'src/protected.ts'] });
