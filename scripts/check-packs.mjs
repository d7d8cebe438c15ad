#!/usr/bin/env node
// Proves what a user gets from npm: every public package is packed with `npm pack`, installed into an
// empty project (its @microcheckpoint siblings as tarballs too, nothing from the workspace), imported,
// and the first ```js block under "## Example" in its README is run and must exit 0. Public folders
// of examples/ (the KV sample, which `mcft demo` runs) are packed and checked the same way.
// Usage: node scripts/check-packs.mjs [folder ...]   (default: every public package in packages/ and examples/)
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const wanted = process.argv.slice(2);
// Folders as paths from the root: packages/<name> and examples/<name>, each with a package.json.
const allFolders = ['packages', 'examples'].flatMap((parent) =>
  readdirSync(join(root, parent))
    .map((f) => `${parent}/${f}`)
    .filter((f) => existsSync(join(root, f, 'package.json'))),
);
const folders = allFolders.filter(
  (f) => wanted.length === 0 || wanted.includes(f) || wanted.includes(f.split('/').pop()),
);
const manifests = new Map(
  allFolders.map((f) => [f, JSON.parse(readFileSync(join(root, f, 'package.json'), 'utf8'))]),
);
const byName = new Map([...manifests].map(([folder, m]) => [m.name, folder]));

const work = mkdtempSync(join(tmpdir(), 'mc-packs-'));
const tarballDir = join(work, 'tarballs');
mkdirSync(tarballDir);
const failures = [];
try {
  const tarballs = new Map();
  for (const [folder, manifest] of manifests) {
    if (manifest.private) continue;
    const out = execFileSync('npm', ['pack', '--silent', '--pack-destination', tarballDir], {
      cwd: join(root, folder),
      encoding: 'utf8',
    });
    tarballs.set(folder, join(tarballDir, out.trim().split('\n').pop()));
  }

  for (const folder of folders) {
    const manifest = manifests.get(folder);
    if (manifest.private) continue;
    const project = join(work, folder.replace('/', '-'));
    mkdirSync(project);
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: `pack-check-${folder.replace('/', '-')}`, private: true, type: 'module' }),
    );
    const needed = [...siblingClosure(folder)].map((f) => tarballs.get(f));
    try {
      console.log(`\n[${manifest.name}] npm install ${needed.length} tarball(s) into an empty project`);
      execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...needed], {
        cwd: project,
        stdio: 'inherit',
      });
      execFileSync('node', ['--input-type=module', '-e', `await import('${manifest.name}')`], {
        cwd: project,
        stdio: 'inherit',
      });
      const example = readmeExample(folder);
      if (example === null) {
        console.log(`[${manifest.name}] imports; README has no "## Example" js block yet (skeleton package)`);
        continue;
      }
      writeFileSync(join(project, 'example.mjs'), example);
      execFileSync('node', ['example.mjs'], { cwd: project, stdio: 'inherit', timeout: 120_000 });
      console.log(`[${manifest.name}] README example ran and exited 0`);
    } catch (err) {
      failures.push(`${manifest.name}: ${err.message.split('\n')[0]}`);
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

if (failures.length > 0) {
  console.error(`\npack check FAILED:\n  ${failures.join('\n  ')}`);
  process.exit(1);
}
console.log('\npack check passed');

/**
 * The folder itself and every @microcheckpoint package it depends on, transitively (peer
 * dependencies too, optional ones included, so an example may use them).
 */
function siblingClosure(folder, seen = new Set()) {
  if (seen.has(folder)) return seen;
  seen.add(folder);
  const m = manifests.get(folder);
  for (const dep of Object.keys({ ...m.dependencies, ...m.optionalDependencies, ...m.peerDependencies })) {
    const sibling = byName.get(dep);
    if (sibling) siblingClosure(sibling, seen);
  }
  return seen;
}

function readmeExample(folder) {
  const file = join(root, folder, 'README.md');
  if (!existsSync(file)) return null;
  const text = readFileSync(file, 'utf8');
  const section = text.split(/^## Example\s*$/m)[1];
  if (!section) return null;
  const match = section.match(/```js\n([\s\S]*?)```/);
  return match ? match[1] : null;
}
