import { packageBuild } from '../../tsup.base.js';

// bin.js is the `mcft` executable (src/bin.ts starts with its #! line, which esbuild keeps);
// index.js is the programmatic surface.
export default packageBuild({ entry: ['src/index.ts', 'src/bin.ts'] });
