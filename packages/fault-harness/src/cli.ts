// npm run test:faults -- --runs N --seed S [--arbiter file|witness|etcd|all] [--soak] [--kind <nemesis>]
//   [--follow-up <nemesis>] [--reprotect <nemesis>] [--keep DIR]
//   [--unsafe-release-before-ack] [--out bench/results/faults.json] [--verbose]
// Runs N schedules (seeds S, S+1, ...), prints one row per run and writes the bench file. Exit code 1
// when any property was violated. Replay run k alone with --seed <its seed> --runs 1.
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type Lab, labSkipReason, sweep } from './lab.js';
import { checkSeed } from './prng.js';
import { formatTable, outcomeOf, writeFaultsJson } from './report.js';
import { type RunResult, runSchedule } from './run.js';
import {
  ARBITER_KINDS,
  type ArbiterKind,
  describeSchedule,
  generateSchedule,
  NEMESIS_KINDS,
  type NemesisKind,
  type Schedule,
} from './schedule.js';

const SOAK_RUNS = 300;

const { values } = parseArgs({
  options: {
    runs: { type: 'string' },
    seed: { type: 'string', default: '1' },
    arbiter: { type: 'string', default: 'file' },
    kind: { type: 'string' },
    'follow-up': { type: 'string' },
    reprotect: { type: 'string' },
    soak: { type: 'boolean', default: false },
    'unsafe-release-before-ack': { type: 'boolean', default: false },
    out: {
      type: 'string',
      default: fileURLToPath(new URL('../../../bench/results/faults.json', import.meta.url)),
    },
    verbose: { type: 'boolean', default: false },
    keep: { type: 'string' },
  },
});

const fail = (message: string): never => {
  process.stderr.write(`${message}\n`);
  process.exit(2);
};
const skip = labSkipReason();
if (skip !== null) fail(`cannot run the fault lab: ${skip}`);
const runs = Number(values.runs ?? (values.soak ? SOAK_RUNS : 20));
if (!Number.isInteger(runs) || runs < 1) fail(`--runs must be a positive integer, got ${values.runs}`);
const seed = checkSeed(Number(values.seed));
const arbiters: ArbiterKind[] =
  values.arbiter === 'all'
    ? [...ARBITER_KINDS]
    : ARBITER_KINDS.includes(values.arbiter as ArbiterKind)
      ? [values.arbiter as ArbiterKind]
      : fail(`--arbiter must be file, witness, etcd or all, got ${values.arbiter}`);
const kind = values.kind as NemesisKind | undefined;
if (kind !== undefined && !NEMESIS_KINDS.includes(kind))
  fail(`--kind must be one of ${NEMESIS_KINDS.join(', ')}`);

// Teardown on Ctrl-C and SIGTERM: the lab of the run in progress goes, then leftovers.
let current: Lab | null = null;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    current?.teardown();
    sweep();
    process.stderr.write(`\n${signal}: lab torn down\n`);
    process.exit(130);
  });
}
process.once('exit', () => current?.teardown());

const removed = sweep();
if (removed.length > 0) process.stderr.write(`swept ${removed.length} leftover namespaces\n`);
const results: RunResult[] = [];
for (let i = 0; i < runs; i++) {
  const runSeed = (seed + i) >>> 0;
  const arbiter = arbiters[i % arbiters.length]!;
  const followUp = values['follow-up'] as NemesisKind | undefined;
  const reprotect = values.reprotect as NemesisKind | undefined;
  let schedule: Schedule;
  try {
    schedule = generateSchedule(runSeed, arbiter, {
      ...(kind === undefined ? {} : { kind }),
      ...(followUp === undefined ? {} : { followUp }),
      ...(reprotect === undefined ? {} : { reprotect }),
    });
  } catch (err) {
    fail((err as Error).message);
    break;
  }
  const started = performance.now();
  let result: RunResult;
  try {
    result = await runSchedule(schedule, {
      unsafeReleaseBeforeAck: values['unsafe-release-before-ack'],
      ...(values.keep === undefined ? {} : { keepDir: values.keep }),
      onLab: (lab) => {
        current = lab;
      },
    });
  } catch (err) {
    process.stderr.write(
      `seed ${runSeed} (${arbiter}, ${describeSchedule(schedule)}): lab error: ${(err as Error).message}\n`,
    );
    process.exitCode = 3;
    continue;
  }
  results.push(result);
  process.stderr.write(
    `[${i + 1}/${runs}] seed ${runSeed} ${arbiter} ${describeSchedule(schedule)}: ${outcomeOf(result)} (${((performance.now() - started) / 1000).toFixed(1)} s)\n`,
  );
  if (values.verbose || result.violations.length > 0) {
    for (const v of result.violations.slice(0, 20))
      process.stderr.write(`  ${v.kind}${v.key ? ` ${v.key}` : ''}: ${v.detail}\n`);
  }
  if (values.verbose) {
    for (const f of result.faults) {
      process.stderr.write(
        `  fault ${f.fault.kind} applied at ${f.appliedAtMs.toFixed(1)}, healed at ${f.healedAtMs.toFixed(1)}\n`,
      );
    }
    if (result.reprotect !== null) process.stderr.write(`  reprotect: ${JSON.stringify(result.reprotect)}\n`);
    for (const { node, line } of result.events) process.stderr.write(`  ${node}: ${JSON.stringify(line)}\n`);
  }
}
sweep();
process.stdout.write(`${formatTable(results)}\n`);
writeFaultsJson(values.out, results, values.soak);
const violated = results.filter((r) => r.violations.length > 0);
process.stdout.write(
  `\n${results.length} runs, ${violated.length} with violations; wrote ${values.out}\n` +
    (violated.length > 0
      ? `replay one: npm run test:faults -- --runs 1 --seed ${violated[0]!.schedule.seed} --arbiter ${violated[0]!.schedule.arbiter}${forcedFlags()}\n`
      : ''),
);
if (violated.length > 0) process.exitCode = 1;

/** The flags that shaped the schedules besides the seed, for the replay line. */
function forcedFlags(): string {
  const flags: string[] = [];
  for (const name of ['kind', 'follow-up', 'reprotect'] as const) {
    const value = values[name];
    if (value !== undefined) flags.push(`--${name} ${value}`);
  }
  if (values['unsafe-release-before-ack']) flags.push('--unsafe-release-before-ack');
  return flags.length === 0 ? '' : ` ${flags.join(' ')}`;
}
