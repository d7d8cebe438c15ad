import { defineConfig, type Options } from 'tsup';

/**
 * The one tsup configuration every package builds with: ESM only, declarations with maps,
 * Node 20 target. A package may add entries (the CLI adds its bin) but never changes the format.
 */
export function packageBuild(extra: Partial<Options> = {}) {
  return defineConfig({
    entry: ['src/index.ts'],
    format: ['esm'],
    target: 'node20',
    platform: 'node',
    dts: true,
    sourcemap: true,
    clean: true,
    splitting: false,
    ...extra,
  });
}
