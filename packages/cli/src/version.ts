import { createRequire } from 'node:module';

// Both src/version.ts and the bundled dist/*.js sit one folder below the package root.
const manifest = createRequire(import.meta.url)('../package.json') as { version: string };

/** The version of this mcft, as published. */
export const MCFT_VERSION: string = manifest.version;
