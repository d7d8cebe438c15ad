import { packageBuild } from '../../tsup.base.js';

// main.js runs the service for real Redis clients (redis-cli, redis-benchmark).
export default packageBuild({ entry: ['src/index.ts', 'src/main.ts'] });
