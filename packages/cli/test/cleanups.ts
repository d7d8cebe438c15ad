import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';

/** What a test file registers to undo after each test, newest first. */
export interface TestCleanups {
  defer(cleanup: () => void | Promise<void>): void;
  /** A fresh temporary directory, removed after the test. */
  tempDir(): string;
}

/** Registers an `afterEach` that runs the deferred cleanups in reverse order (temp dirs named `<prefix>XXXXXX`). */
export function cleanupsAfterEach(prefix: string): TestCleanups {
  const cleanups: Array<() => void | Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  const defer = (cleanup: () => void | Promise<void>) => {
    cleanups.push(cleanup);
  };
  return {
    defer,
    tempDir: () => {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      defer(() => rmSync(dir, { recursive: true, force: true }));
      return dir;
    },
  };
}
