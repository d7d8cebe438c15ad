import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

function subfolders(parent: string): string[] {
  const dir = fileURLToPath(new URL(`./${parent}/`, import.meta.url));
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => `${dir}${entry.name}`);
}

const projectRoots = [...subfolders('packages'), ...subfolders('examples')];
const packageDirs = subfolders('packages');

// Tests import siblings by package name; point those names at src so no build is needed.
const alias = Object.fromEntries(
  packageDirs.map((dir) => [`@microcheckpoint/${dir.split('/').pop()}`, `${dir}/src/index.ts`]),
);

export default defineConfig({
  test: {
    projects: projectRoots.map((dir) => ({
      resolve: { alias },
      test: {
        name: dir.split('/').pop(),
        root: dir,
        include: ['test/**/*.test.ts'],
        environment: 'node',
        testTimeout: 60_000,
        hookTimeout: 60_000,
        passWithNoTests: true,
      },
    })),
  },
});
