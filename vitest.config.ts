import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const packagesDir = fileURLToPath(new URL('./packages/', import.meta.url));
const packageDirs = readdirSync(packagesDir, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name);

// Tests import siblings by package name; point those names at src so no build is needed.
const alias = Object.fromEntries(
  packageDirs.map((dir) => [`@microcheckpoint/${dir}`, `${packagesDir}${dir}/src/index.ts`]),
);

export default defineConfig({
  test: {
    projects: packageDirs.map((dir) => ({
      resolve: { alias },
      test: {
        name: dir,
        root: `${packagesDir}${dir}`,
        include: ['test/**/*.test.ts'],
        environment: 'node',
        testTimeout: 60_000,
        hookTimeout: 60_000,
        passWithNoTests: true,
      },
    })),
  },
});
