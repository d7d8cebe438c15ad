import { formatTable } from '../table.js';

/** The faults the demo can inject into the primary. */
export const DEMO_FAULTS = ['kill', 'stop', 'partition', 'none'] as const;
export type DemoFault = (typeof DEMO_FAULTS)[number];

/** Everything `mcft demo` measured and checked; `--json` prints exactly this. */
export interface DemoSummary {
  verdict: 'pass' | 'fail';
  /** Why the verdict is fail (empty on pass). */
  reasons: string[];
  config: {
    durationS: number;
    epochMs: number;
    memoryMib: number;
    mix: string;
    fault: DemoFault;
    transport: string;
    connections: number;
    pipeline: number;
    /** What the demo asked for: `tls` (the default) or `plain` (`--insecure-plain`). */
    security: 'tls' | 'plain';
  };
  /** Checkpoints the primary took and the secondary acknowledged. */
  epochs: number;
  checkpointsPerSec: number;
  pauseMs: { p50: number; p99: number; max: number };
  checkpointMBps: number;
  checkpointBytes: { p50: number; p99: number };
  corkDepthMax: number;
  clients: {
    replies: number;
    /** Replies per second over the whole run. */
    opsPerSec: number;
    /** Replies per second from the protected primary (each waits for its checkpoint's ACK). */
    protectedOpsPerSec: number;
    /** Replies per second from the survivor after the takeover (unprotected: no waiting); null without failover. */
    survivorOpsPerSec: number | null;
    reconnects: number;
    /** Requests that got no reply (connection died or timed out): their effect is unknown. */
    unknown: number;
    /** Connections on the survivor at the end, of all. */
    followed: string;
    /** Replies received from the survivor after the fault. */
    repliesAfterFault: number;
  };
  failover: {
    fault: DemoFault;
    /** From the fault to the secondary's detector convicting the primary, ms (null: no fault). */
    detectMs: number | null;
    /** From the fault to the survivor serving, ms. */
    takeoverMs: number | null;
    /** Writing the committed image into the survivor's memory, ms. */
    restoreMs: number | null;
    survivor: 'primary' | 'secondary';
    generation: number | null;
    resumedFromEpoch: number | null;
    /** `stop` and `partition`: what the old primary did when it came back (expected: deposed). */
    oldPrimaryState: string | null;
  };
  outputs: {
    /** Replies released to the clients. */
    released: number;
    /** Acknowledged SETs and INCRs compared with the survivor. */
    checkedWrites: number;
    /** Acknowledged writes whose effect the survivor lacks. */
    lostCommitted: number;
    /** Replies (SET, INCR, GET) showing an effect the survivor lacks. */
    releasedAheadOfCommit: number;
    /** Values on the survivor no client wrote. */
    phantoms: number;
    /** GETs that returned something older than a write the same client saw acknowledged. */
    staleReads: number;
  };
  /** The secondary's checkpoint store RAM over the guest memory (1 = a plain second copy). */
  secondaryMemoryRatio: number | null;
  /** How the data channel was protected, as the secondary reported it while protecting. */
  channelSecurity: 'tls' | 'psk' | 'plain' | null;
  /** `hmac-sha256-128` when the heartbeats were authenticated, else `none` (null: never reported). */
  heartbeatAuthentication: string | null;
  /** Heartbeats the secondary refused (forged, replayed, stale, unauthenticated) while protecting. */
  rejectedHeartbeats: number;
  wallS: number;
}

const n = (x: number, digits = 0) =>
  x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const orDash = (x: number | null, unit: string, digits = 0) => (x === null ? '-' : `${n(x, digits)} ${unit}`);

/** The summary as a table and a one-line verdict, for a person. */
export function formatSummary(s: DemoSummary): string {
  const rows: Array<[string, string]> = [
    [
      'checkpoints (epochs)',
      `${n(s.epochs)} at ${n(s.checkpointsPerSec, 1)}/s, epoch ${s.config.epochMs} ms, over ${s.config.transport}`,
    ],
    [
      'guest pause p50 / p99 / max',
      `${n(s.pauseMs.p50, 2)} / ${n(s.pauseMs.p99, 2)} / ${n(s.pauseMs.max, 2)} ms`,
    ],
    [
      'checkpoint size p50 / p99',
      `${n(s.checkpointBytes.p50 / 1024, 1)} / ${n(s.checkpointBytes.p99 / 1024, 1)} KiB (${n(s.checkpointMBps, 2)} MB/s)`,
    ],
    [
      'channel security',
      s.channelSecurity === null
        ? '- (not reported)'
        : s.channelSecurity === 'plain'
          ? 'PLAIN TCP (--insecure-plain): checkpoints and heartbeats unauthenticated'
          : `${s.channelSecurity === 'tls' ? 'TLS 1.3, mutual certificates' : 'TLS 1.3, pre-shared key'}; heartbeats ${s.heartbeatAuthentication}, ${n(s.rejectedHeartbeats)} rejected`,
    ],
    ['cork depth (max)', `${n(s.corkDepthMax)} replies held for their checkpoint`],
    [
      'client replies',
      `${n(s.clients.replies)} (${s.config.connections} connections x ${s.config.pipeline} pipelined, mix ${s.config.mix})`,
    ],
    [
      'client ops/s',
      `${n(s.clients.protectedOpsPerSec)} protected${s.clients.survivorOpsPerSec === null ? '' : `, ${n(s.clients.survivorOpsPerSec)} on the unprotected survivor`}`,
    ],
    [
      'fault',
      s.failover.fault === 'none'
        ? 'none'
        : `${s.failover.fault} the primary at ${n(s.config.durationS * 0.4, 1)} s`,
    ],
    ['detected after', orDash(s.failover.detectMs, 'ms')],
    ['survivor serving after', orDash(s.failover.takeoverMs, 'ms')],
    [
      'survivor',
      s.failover.survivor === 'primary'
        ? 'the primary (no failover)'
        : `the secondary, generation ${s.failover.generation ?? '-'}, from committed epoch ${s.failover.resumedFromEpoch ?? '-'} (restore ${orDash(s.failover.restoreMs, 'ms', 1)})`,
    ],
    ...(s.failover.oldPrimaryState === null
      ? []
      : [['old primary, resumed', s.failover.oldPrimaryState] as [string, string]]),
    [
      'clients followed',
      `${s.clients.followed} connections, ${n(s.clients.repliesAfterFault)} replies after the fault, ${n(s.clients.unknown)} requests unanswered`,
    ],
    ['acknowledged writes checked', n(s.outputs.checkedWrites)],
    ['lost committed writes', n(s.outputs.lostCommitted)],
    ['replies released ahead of commit', n(s.outputs.releasedAheadOfCommit)],
    [
      'secondary memory ratio',
      s.secondaryMemoryRatio === null
        ? '-'
        : `${n(s.secondaryMemoryRatio, 3)} of the guest's ${s.config.memoryMib} MiB`,
    ],
  ];
  const verdict =
    s.verdict === 'pass'
      ? `PASS: ${n(s.outputs.checkedWrites)} acknowledged writes, none lost; no client saw anything the survivor lacks${s.failover.fault === 'none' ? '' : `; served again ${n(s.failover.takeoverMs ?? 0)} ms after the ${s.failover.fault}`}.`
      : `FAIL: ${s.reasons.join('; ')}`;
  return `${formatTable(['', ''], rows, { header: false })}\n\n${verdict}`;
}
