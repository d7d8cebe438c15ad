import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { writeSuiteResult } from './results.js';
import type { BenchSuite } from './suite.js';

// Usage: npm run bench -- [--quick] [suite ...]. Suites are the files in src/suites/.
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const wanted = args.filter((a) => !a.startsWith('--'));

const suitesDir = fileURLToPath(new URL('./suites/', import.meta.url));
const available = readdirSync(suitesDir)
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.slice(0, -3))
  .sort();

const unknown = wanted.filter((w) => !available.includes(w));
if (unknown.length > 0) {
  console.error(`unknown suite(s): ${unknown.join(', ')}; available: ${available.join(', ')}`);
  process.exit(2);
}

for (const name of wanted.length > 0 ? wanted : available) {
  const mod = (await import(`./suites/${name}.ts`)) as { default: BenchSuite };
  const benchSuite = mod.default;
  console.log(`\n== ${benchSuite.name}${quick ? ' (quick)' : ''}: ${benchSuite.question}`);
  const cases = await benchSuite.run({ quick });
  for (const c of cases) {
    console.log(
      `  ${c.name.padEnd(40)} ${fmt(c.value)} ${c.unit} vs ${fmt(c.baseline)} ${c.unit}  ratio ${c.ratio}`,
    );
  }
  console.log(`  wrote ${writeSuiteResult(benchSuite.name, cases, quick)}`);
}

function fmt(n: number): string {
  return n >= 100 ? n.toFixed(0) : n.toPrecision(3);
}
