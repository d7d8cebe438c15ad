import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * The root of a microcheckpoint checkout at or above `start`: the first directory whose package.json
 * lists `bench` among its npm workspaces. `undefined` outside a checkout (an installed `mcft`).
 */
export function findCheckoutRoot(start: string): string | undefined {
  let dir = resolve(start);
  for (;;) {
    if (hasBenchWorkspace(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

function hasBenchWorkspace(file: string): boolean {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return false; // no package.json here, or not one we can read: keep walking up
  }
  if (typeof json !== 'object' || json === null) return false;
  const workspaces = (json as { workspaces?: unknown }).workspaces;
  // npm accepts both `"workspaces": [...]` and `"workspaces": { "packages": [...] }`.
  const list = Array.isArray(workspaces)
    ? workspaces
    : typeof workspaces === 'object' && workspaces !== null
      ? (workspaces as { packages?: unknown }).packages
      : undefined;
  return Array.isArray(list) && list.some((entry) => entry === 'bench' || entry === './bench');
}
