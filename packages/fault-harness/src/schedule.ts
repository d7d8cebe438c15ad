import {
  DETECTION_DEADLINE_MS,
  ETCD_LEASE_TTL_MS,
  HANG_TIMEOUT_MS,
  LEASE_TTL_MS,
  SETTLE_MS,
} from './constants.js';
import { InvalidArgumentError } from './errors.js';
import { checkSeed, createPrng, type Prng } from './prng.js';

/** The arbiters a lab can run with. */
export type ArbiterKind = 'file' | 'witness' | 'etcd';
export const ARBITER_KINDS: readonly ArbiterKind[] = ['file', 'witness', 'etcd'];

/**
 * The faults. Each is applied to the lab and healed after `durationMs` (SIGKILL's heal is a no-op:
 * a killed node stays dead; protection comes back through the spare, see `Reprotect`).
 */
export type NemesisKind =
  | 'kill'
  | 'pause-short'
  | 'pause-long'
  | 'partition-both'
  | 'partition-primary-to-secondary'
  | 'partition-secondary-to-primary'
  | 'isolate-primary'
  | 'link-down'
  | 'arbiter-down'
  | 'arbiter-pause'
  | 'saturate-link'
  | 'block-loop-short'
  | 'block-loop-long';

export const NEMESIS_KINDS: readonly NemesisKind[] = [
  'kill',
  'pause-short',
  'pause-long',
  'partition-both',
  'partition-primary-to-secondary',
  'partition-secondary-to-primary',
  'isolate-primary',
  'link-down',
  'arbiter-down',
  'arbiter-pause',
  'saturate-link',
  'block-loop-short',
  'block-loop-long',
];

/** Nemeses that act on the arbiter's process (the file arbiter has none). */
const ARBITER_PROCESS_KINDS: readonly NemesisKind[] = ['arbiter-down', 'arbiter-pause'];

/** The nemeses that make sense with an arbiter. */
export function nemesesFor(arbiter: ArbiterKind): readonly NemesisKind[] {
  return arbiter === 'file' ? NEMESIS_KINDS.filter((k) => !ARBITER_PROCESS_KINDS.includes(k)) : NEMESIS_KINDS;
}

/**
 * Which node a fault hits: the pair's primary or secondary (the nodes started as such; after
 * re-protection, the survivor and the spare), or whichever serves (the newest generation) when the
 * fault starts: after a failover, that is the survivor.
 */
export type Target = 'primary' | 'secondary' | 'serving';

/**
 * Faults that may follow the first one, against the node serving then. Each stays inside what the
 * engine promises to ride out without losing service: shorter than detection, than the hang guard,
 * or (the arbiter frozen) than a quarter of the lease the survivor renews every third of. Not the
 * arbiter killed: restarting it takes most of a second, and a survivor whose renewals fail for
 * about two thirds of its lease fences itself for good (by design: safe, not live).
 */
export const FOLLOW_UP_KINDS: readonly NemesisKind[] = [
  'pause-short',
  'block-loop-short',
  'saturate-link',
  'arbiter-pause',
];

/** One fault of a schedule, with times relative to the start of the workload. */
export interface Fault {
  readonly kind: NemesisKind;
  readonly target: Target;
  /** When the fault is applied. */
  readonly atMs: number;
  /** How long it lasts before the heal. */
  readonly durationMs: number;
  /** saturate-link: the tbf rate in kbit/s; block-loop: unused (the duration is the busy-wait). */
  readonly rateKbit: number;
}

/** Everything one run does, derived from its seed alone. */
export interface Schedule {
  readonly seed: number;
  readonly arbiter: ArbiterKind;
  readonly faults: readonly Fault[];
  /**
   * After the first faults, the node left serving alone is protected again by a new secondary on
   * the spare host, and the new pair gets a fault of its own; null: no such phase.
   */
  readonly reprotect: Reprotect | null;
  /** Workload length as planned: the last heal plus the settle time. */
  readonly workloadMs: number;
  /** The lease the nodes ask for when acting alone. */
  readonly leaseTtlMs: number;
}

/** The re-protection phase of a schedule. */
export interface Reprotect {
  /**
   * When the survivor is asked to protect itself with the spare. Nothing is asked if no node is
   * alone then (the first faults caused no failover): the fault below hits the original pair.
   */
  readonly atMs: number;
  /**
   * The fault thrown at the pair. Its `primary` is the survivor and its `secondary` the spare; it is
   * applied at `atMs`, or `REPROTECTED_FAULT_AFTER_MS` after the pair is protected if that is later.
   */
  readonly fault: Fault;
}

/** How long a re-protected pair runs protected before its fault, at least. */
export const REPROTECTED_FAULT_AFTER_MS = 2500;

/** The PRNG stream of the re-protection phase (a fork of the seed's). */
const REPROTECT_STREAM = 2;

/** Options of `generateSchedule()`. */
export interface ScheduleOptions {
  /**
   * Force the nemesis (otherwise it cycles with the seed through `nemesesFor(arbiter)`); a forced
   * nemesis is the only fault of the schedule unless `followUp` is given too.
   */
  readonly kind?: NemesisKind;
  /**
   * Force a second fault of this kind against the serving node. Besides `FOLLOW_UP_KINDS`, it may
   * be `arbiter-down` (killed and restarted for 100 ms to half the lease, plus the restart): more
   * than a survivor is built to ride out, for reproducing that outage on purpose.
   */
  readonly followUp?: NemesisKind;
  /**
   * Force the re-protection phase, with this fault (one of `REPROTECTED_FAULT_KINDS`) thrown at the
   * re-protected pair.
   */
  readonly reprotect?: NemesisKind;
}

/** Second faults `generateSchedule` accepts as `followUp`. */
export const FORCEABLE_FOLLOW_UPS: readonly NemesisKind[] = [...FOLLOW_UP_KINDS, 'arbiter-down'];

/**
 * Faults the re-protected pair gets: each makes the pair fail over again (or, aimed at the new
 * secondary, leaves the survivor alone once more), so protection must have really come back.
 */
export const REPROTECTED_FAULT_KINDS: readonly NemesisKind[] = [
  'kill',
  'pause-long',
  'partition-both',
  'isolate-primary',
  'link-down',
  'block-loop-long',
];

/** First faults after which a node may be left serving alone, so re-protection has work to do. */
const FAILOVER_KINDS: readonly NemesisKind[] = [
  ...REPROTECTED_FAULT_KINDS,
  'partition-primary-to-secondary',
  'partition-secondary-to-primary',
];

/** One fault of `kind` at `atMs`: its target, duration and parameters drawn from `prng`. */
function drawFault(kind: NemesisKind, atMs: number, prng: Prng, leaseTtlMs: number): Fault {
  const target: Target = prng.next() < 0.75 ? 'primary' : 'secondary';
  const D = DETECTION_DEADLINE_MS;
  let durationMs: number;
  let rateKbit = 0;
  let faultTarget: Target = target;
  switch (kind) {
    case 'kill':
      durationMs = prng.int(D * 3, D * 8);
      break;
    case 'pause-short':
      // Well under the detection deadline: the peer must not convict.
      durationMs = prng.int(10, Math.floor(D / 3));
      break;
    case 'pause-long':
      // Past the lease: whatever grant the node held has lapsed when it wakes.
      durationMs = prng.int(leaseTtlMs + 200, leaseTtlMs + 1200);
      break;
    case 'block-loop-short':
      durationMs = prng.int(20, Math.floor(HANG_TIMEOUT_MS / 3));
      break;
    case 'block-loop-long':
      durationMs = prng.int(HANG_TIMEOUT_MS + 200, HANG_TIMEOUT_MS + 1200);
      break;
    case 'saturate-link':
      durationMs = prng.int(800, 2500);
      rateKbit = prng.pick([32, 64, 128, 256, 1024]);
      break;
    case 'arbiter-down':
    case 'arbiter-pause':
      durationMs = prng.int(1000, 3000);
      faultTarget = 'primary';
      break;
    case 'isolate-primary':
    case 'partition-both':
    case 'partition-primary-to-secondary':
    case 'partition-secondary-to-primary':
      durationMs = prng.int(Math.floor(D / 2), 2500);
      faultTarget = 'primary';
      break;
    case 'link-down':
      durationMs = prng.int(Math.floor(D / 2), 2500);
      break;
  }
  return { kind, target: faultTarget, atMs, durationMs, rateKbit };
}

/**
 * The schedule of the run with this seed. The nemesis cycles with the seed (consecutive seeds cover
 * every nemesis); its target, timing and parameters come from a PRNG seeded with the seed, so a
 * seed names one schedule on every machine.
 */
export function generateSchedule(
  seed: number,
  arbiter: ArbiterKind,
  options: ScheduleOptions = {},
): Schedule {
  checkSeed(seed);
  if (!ARBITER_KINDS.includes(arbiter)) {
    throw new InvalidArgumentError(
      `arbiter must be one of ${ARBITER_KINDS.join(', ')}, got ${String(arbiter)}`,
    );
  }
  const kinds = nemesesFor(arbiter);
  if (options.kind !== undefined && !kinds.includes(options.kind)) {
    throw new InvalidArgumentError(
      `nemesis ${String(options.kind)} does not apply with the ${arbiter} arbiter`,
    );
  }
  const followUp = options.followUp;
  if (followUp !== undefined) {
    if (
      !FORCEABLE_FOLLOW_UPS.includes(followUp) ||
      (arbiter === 'file' && ARBITER_PROCESS_KINDS.includes(followUp))
    ) {
      throw new InvalidArgumentError(
        `follow-up ${String(followUp)} does not apply with the ${arbiter} arbiter`,
      );
    }
  }
  if (options.reprotect !== undefined && !REPROTECTED_FAULT_KINDS.includes(options.reprotect)) {
    throw new InvalidArgumentError(
      `the re-protected pair's fault must be one of ${REPROTECTED_FAULT_KINDS.join(', ')}, got ${String(options.reprotect)}`,
    );
  }
  const kind = options.kind ?? kinds[seed % kinds.length]!;
  const prng = createPrng(seed);
  const leaseTtlMs = arbiter === 'etcd' ? ETCD_LEASE_TTL_MS : LEASE_TTL_MS;
  const first = drawFault(kind, prng.int(800, 1500), prng, leaseTtlMs);
  const faults: Fault[] = [first];
  const D = DETECTION_DEADLINE_MS;
  // Half the schedules go on with a second fault against whoever serves after the first one.
  // Drawn whether or not it is used, so forcing the follow-up changes nothing else of the schedule.
  const followRoll = prng.next();
  if (followUp !== undefined || (options.kind === undefined && followRoll < 0.5)) {
    const follow =
      followUp ??
      prng.pick(FOLLOW_UP_KINDS.filter((k) => arbiter !== 'file' || !ARBITER_PROCESS_KINDS.includes(k)));
    const followAt = first.atMs + first.durationMs + prng.int(800, 1500);
    const followDuration =
      follow === 'pause-short'
        ? prng.int(10, Math.floor(D / 3))
        : follow === 'block-loop-short'
          ? prng.int(20, Math.floor(HANG_TIMEOUT_MS / 3))
          : follow === 'arbiter-pause'
            ? prng.int(50, Math.floor(leaseTtlMs / 4))
            : follow === 'arbiter-down'
              ? prng.int(100, Math.floor(leaseTtlMs / 2))
              : prng.int(500, 1500);
    faults.push({
      kind: follow,
      target: 'serving',
      atMs: followAt,
      durationMs: followDuration,
      rateKbit: follow === 'saturate-link' ? prng.pick([64, 256, 1024]) : 0,
    });
  }
  // The other schedules whose first fault can leave a node alone (three in five of them) re-protect
  // it with the spare and fail the new pair over again. From a stream of its own, so the draws
  // above (and every schedule without this phase) are what they were before it existed.
  const phase = prng.fork(REPROTECT_STREAM);
  const reprotectRoll = phase.next();
  let reprotect: Reprotect | null = null;
  if (
    options.reprotect !== undefined ||
    (options.kind === undefined &&
      faults.length === 1 &&
      FAILOVER_KINDS.includes(kind) &&
      reprotectRoll < 0.6)
  ) {
    const atMs = first.atMs + first.durationMs + phase.int(500, 1000);
    const second = options.reprotect ?? phase.pick(REPROTECTED_FAULT_KINDS);
    reprotect = { atMs, fault: drawFault(second, atMs + REPROTECTED_FAULT_AFTER_MS, phase, leaseTtlMs) };
  }
  const last = reprotect?.fault ?? faults[faults.length - 1]!;
  return {
    seed,
    arbiter,
    faults,
    reprotect,
    workloadMs: last.atMs + last.durationMs + SETTLE_MS,
    leaseTtlMs,
  };
}

/** One line naming a fault, for tables and logs. */
export function describeFault(fault: Fault): string {
  const rate = fault.kind === 'saturate-link' ? ` ${fault.rateKbit}kbit` : '';
  return `${fault.kind}(${fault.target}${rate}, ${fault.durationMs}ms)`;
}

/** One line naming every fault of a schedule. */
export function describeSchedule(schedule: Schedule): string {
  const first = schedule.faults.map(describeFault).join(' + ');
  return schedule.reprotect === null
    ? first
    : `${first}, reprotect, ${describeFault(schedule.reprotect.fault)}`;
}
