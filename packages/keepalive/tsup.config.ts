import { packageBuild } from '../../tsup.base.js';

// The heartbeat worker is a second entry: the keepalive starts it as dist/heartbeat-worker.js.
export default packageBuild({ entry: ['src/index.ts', 'src/heartbeat-worker.ts'] });
