import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeCertificates } from '../commands/certs.js';
import {
  DEMO_FAULT_AT_FRACTION,
  DEMO_KEYS_PER_CLIENT,
  DEMO_REFRESH_MS,
  DEMO_START_TIMEOUT_MS,
  DEMO_TAKEOVER_TIMEOUT_MS,
} from '../constants.js';
import { ChildFailedError } from '../errors.js';
import { createNetnsPair, type NetnsPair } from '../netns.js';
import { freePort } from '../node/probe-port.js';
import type { NodeStatusReport } from '../node/status-report.js';
import { type ChildLine, type DemoChild, killChild, startMcft } from './children.js';
import type { LoadCheck, LoadStats } from './load.js';
import { formatMix, type WorkloadMix } from './mix.js';
import type { DemoFault, DemoSummary } from './summary.js';
import type { DemoView } from './view.js';

/** Options of `runDemo()`, checked. */
export interface DemoOptions {
  durationS: number;
  epochMs: number;
  memoryMib: number;
  mix: WorkloadMix;
  fault: DemoFault;
  transport: 'tcp' | 'rdma-sim';
  connections: number;
  pipeline: number;
  /**
   * `tls`: a throwaway CA and node certificates in the demo's temporary directory, TLS 1.3 with
   * mutual authentication on every channel; `plain`: plain TCP (`--insecure-plain`).
   */
  security: 'tls' | 'plain';
}

/**
 * Everything the demo made that must not outlive it: processes, the arbiter directory, namespaces.
 * `run()` is safe to call more than once and from a signal handler.
 */
export class DemoResources {
  readonly children: DemoChild[] = [];
  tempDir: string | null = null;
  netns: NetnsPair | null = null;
  #done: Promise<void> | null = null;

  release(): Promise<void> {
    this.#done ??= (async () => {
      await Promise.all(this.children.map((c) => killChild(c)));
      if (this.tempDir !== null) rmSync(this.tempDir, { recursive: true, force: true });
      this.netns?.destroy();
    })();
    return this.#done;
  }
}

function rejectedTotal(peer: NodeStatusReport['peer'] | null): number {
  if (peer === null) return 0;
  const r = peer.rejectedHeartbeats;
  return r.forged + r.replayed + r.stale + r.unauthenticated;
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/**
 * Detector settings of the demo's nodes: 15 silent 20 ms heartbeats, or 3 s without main-loop
 * progress. A kill, a SIGSTOP (which stops the heartbeat thread too) and a partition all silence the
 * heartbeats, so the hang rule only has to catch a live thread over a stuck loop; a loaded laptop
 * must never make it convict a healthy node.
 */
const DEMO_DETECT = ['--detect-multiplier', '15', '--hang-timeout-ms', '3000'];

/**
 * Runs the demo: a secondary, a primary protecting the KV service, and a client load, each a process
 * of its own; injects the fault, watches the takeover, compares what the clients saw with the
 * survivor, and returns the summary. Everything it starts is registered in `resources`; the caller
 * releases them (also on Ctrl-C).
 */
export async function runDemo(
  o: DemoOptions,
  view: DemoView,
  resources: DemoResources,
): Promise<DemoSummary> {
  const startedAt = Date.now();
  const reasons: string[] = [];
  resources.tempDir = mkdtempSync(join(tmpdir(), 'mcft-demo-'));
  const arbiterDir = join(resources.tempDir, 'arbiter');

  // Where everything runs: on loopback, or (partition) the primary in namespace a and the
  // secondary, the witness and the clients in namespace b.
  let primaryHost = '127.0.0.1';
  let secondaryHost = '127.0.0.1';
  let inA: string[] = [];
  let inB: string[] = [];
  if (o.fault === 'partition') {
    resources.netns = createNetnsPair(`mcft-demo-${process.pid}`, 1);
    primaryHost = resources.netns.addressA;
    secondaryHost = resources.netns.addressB;
    inA = resources.netns.exec(resources.netns.a);
    inB = resources.netns.exec(resources.netns.b);
  }
  // Secure like a real deployment: a CA made for this run (removed with the temporary directory) and
  // one certificate per process, valid for every address the demo uses.
  let security: (node: string) => string[] = () => ['--insecure-plain'];
  if (o.security === 'tls') {
    const certs = join(resources.tempDir, 'certs');
    writeCertificates({
      out: certs,
      nodes: ['primary', 'secondary', 'witness'],
      ipAddresses: [...new Set(['127.0.0.1', '::1', primaryHost, secondaryHost])],
      dnsNames: ['localhost'],
      days: 1,
      expired: false,
      psk: false,
      force: false,
    });
    security = (node) => [
      '--ca',
      join(certs, 'ca.pem'),
      '--cert',
      join(certs, `${node}.pem`),
      '--key',
      join(certs, `${node}.key`),
    ];
    view.log(`security     TLS 1.3 with mutual certificates from a CA made for this run (${certs})`);
  } else {
    view.log('security     PLAIN TCP (--insecure-plain): nothing authenticated or encrypted');
  }
  const start = (name: string, prefix: string[], args: string[]): DemoChild => {
    const child = startMcft(name, args, prefix);
    resources.children.push(child);
    return child;
  };

  let arbiterArgs = ['--arbiter', 'file', '--arbiter-dir', arbiterDir];
  if (o.fault === 'partition') {
    // A shared directory would still be reachable from the cut-off primary; a witness on the
    // secondary's side is not, as a third host would not be.
    const witness = start('the witness', inB, [
      'witness',
      '--listen',
      `${secondaryHost}:0`,
      '--state-file',
      join(resources.tempDir, 'witness.json'),
      ...security('witness'),
      '--json',
      '--exit-with-stdin',
    ]);
    const listening = await witness.waitFor(
      (l) => l.type === 'listening',
      DEMO_START_TIMEOUT_MS,
      'the witness listening',
    );
    arbiterArgs = ['--arbiter', 'witness', '--witness', `${secondaryHost}:${listening.port}`];
    view.log(
      `witness      listening on ${secondaryHost}:${listening.port} (the primary is cut off from it by the partition)`,
    );
  }

  const servicePortB = o.fault === 'partition' ? 6380 : await freePort(secondaryHost);
  const secondary = start('the secondary', inB, [
    'secondary',
    '--listen',
    `${secondaryHost}:0`,
    '--service',
    `${secondaryHost}:${servicePortB}`,
    '--metrics',
    `${secondaryHost}:0`,
    ...arbiterArgs,
    '--memory-mib',
    String(o.memoryMib),
    '--transport',
    o.transport,
    ...DEMO_DETECT,
    ...security('secondary'),
    '--json',
    '--exit-with-stdin',
    '--report-ms',
    '500',
  ]);
  const sListening = await secondary.waitFor(
    (l) => l.type === 'listening',
    DEMO_START_TIMEOUT_MS,
    'the secondary listening',
  );
  view.log(
    `secondary    waiting for a primary on ${sListening.data}; status on ${String(sListening.statusScheme)}://${sListening.metrics}/status`,
  );

  const primary = start('the primary', inA, [
    'primary',
    '--secondary',
    String(sListening.data),
    '--service',
    `${primaryHost}:0`,
    '--metrics',
    `${primaryHost}:0`,
    ...arbiterArgs,
    '--memory-mib',
    String(o.memoryMib),
    '--slots',
    String(Math.max(1024, 2 ** Math.ceil(Math.log2(o.connections * DEMO_KEYS_PER_CLIENT * 2)))),
    '--epoch-ms',
    String(o.epochMs),
    '--transport',
    o.transport,
    ...DEMO_DETECT,
    ...security('primary'),
    '--json',
    '--trace-checkpoints',
    '--exit-with-stdin',
    '--report-ms',
    '250',
  ]);
  const pListening = await primary.waitFor(
    (l) => l.type === 'listening',
    DEMO_START_TIMEOUT_MS,
    'the primary listening',
  );
  await primary.waitFor((l) => l.type === 'protected', DEMO_START_TIMEOUT_MS, 'the primary protected');
  const protectedAt = Date.now();
  view.log(
    `primary      KV service on ${pListening.service}, protected: every reply waits for its checkpoint's ACK`,
  );

  // What the primary reports: every acknowledged checkpoint, and its status.
  const pauses: number[] = [];
  const sizes: number[] = [];
  const recent: Array<{ at: number; bytes: number; pauseMs: number }> = [];
  let corkDepth = 0;
  let corkDepthMax = 0;
  let primaryState = 'protected';
  // Pause and size statistics cover the checkpoints taken under client load (before it, epochs are empty).
  let measuring = false;
  primary.onLine((line) => {
    if (line.type === 'checkpoint') {
      epochs++;
      if (!measuring) return;
      pauses.push(Number(line.pauseMs));
      sizes.push(Number(line.bytes));
      recent.push({ at: Date.now(), bytes: Number(line.bytes), pauseMs: Number(line.pauseMs) });
    } else if (line.type === 'status') {
      corkDepth = (line.report as NodeStatusReport).cork.depthItems;
      corkDepthMax = Math.max(corkDepthMax, corkDepth);
    } else if (line.type === 'state') {
      primaryState = String(line.state);
    }
  });
  let epochs = primary.lines.filter((l) => l.type === 'checkpoint').length;
  let secondaryRatio: number | null = null;
  let secondaryState = 'protecting';
  // Assigned in a callback: the cast keeps the compiler from narrowing it to null for good.
  let peerSecurity = null as NodeStatusReport['peer'] | null;
  secondary.onLine((line) => {
    if (line.type === 'status') {
      const report = line.report as NodeStatusReport;
      const ratio = report.memory.storeRamRatio;
      if (ratio !== null && secondaryState === 'protecting') secondaryRatio = ratio;
      // What protected the channel while the primary was attached (after a takeover there is no peer).
      if (secondaryState === 'protecting' && report.peer.connected) peerSecurity = report.peer;
    } else if (line.type === 'state') {
      secondaryState = String(line.state);
    }
  });

  const primaryService = String(pListening.service);
  const secondaryService = `${secondaryHost}:${servicePortB}`;
  const load = start('the clients', inB, [
    'demo-clients',
    '--targets',
    `${primaryService},${secondaryService}`,
    '--connections',
    String(o.connections),
    '--pipeline',
    String(o.pipeline),
    '--mix',
    formatMix(o.mix),
  ]);
  let stats: LoadStats | null = null;
  const opsWindow: Array<{ at: number; replies: number }> = [];
  load.onLine((line) => {
    if (line.type === 'load') {
      stats = line.stats as LoadStats;
      opsWindow.push({ at: Date.now(), replies: stats.replies });
    }
  });
  await load.waitFor((l) => l.type === 'load', DEMO_START_TIMEOUT_MS, 'the clients running');
  view.log(
    `clients      ${o.connections} connections x ${o.pipeline} pipelined commands (${formatMix(o.mix)}), following ${primaryService} then ${secondaryService}`,
  );

  const loadStartedAt = Date.now();
  measuring = true;
  const faultAtMs = loadStartedAt + o.durationS * 1000 * DEMO_FAULT_AT_FRACTION;
  const endAtMs = loadStartedAt + o.durationS * 1000;
  let faultedAt: number | null = null;
  let detectMs: number | null = null;
  let serving: ChildLine | null = null;
  let resumed = false;
  const secondaryLines = (from: number) => secondary.lines.slice(from);
  let secondaryScan = 0;

  for (;;) {
    const now = Date.now();
    if (faultedAt === null && now >= faultAtMs && o.fault !== 'none') {
      faultedAt = Date.now();
      secondaryScan = secondary.lines.length;
      if (o.fault === 'kill') primary.signal('SIGKILL');
      else if (o.fault === 'stop') primary.signal('SIGSTOP');
      else resources.netns!.partition();
      view.log(
        {
          kill: 'FAULT        SIGKILL the primary',
          stop: 'FAULT        SIGSTOP the primary (hung: its sockets stay open, it answers nothing)',
          partition: "FAULT        partition: iptables DROP on the primary's link (it runs on, cut off)",
          none: '',
        }[o.fault],
      );
    }
    if (faultedAt !== null) {
      for (const line of secondaryLines(secondaryScan)) {
        secondaryScan++;
        const at = Number(line.atMs);
        if (
          detectMs === null &&
          ((line.type === 'peer' && line.state === 'dead') ||
            (line.type === 'state' && line.state === 'arbitrating'))
        ) {
          detectMs = Math.max(0, at - faultedAt);
          view.log(
            `detected     the secondary convicted the primary after ${detectMs} ms (${line.type === 'peer' ? String(line.reason) : 'arbitrating'})`,
          );
        }
        if (serving === null && line.type === 'serving') {
          serving = line;
          if (detectMs === null) detectMs = Math.max(0, at - faultedAt);
          view.log(
            `takeover     the secondary serves ${String(line.service)} from committed epoch ${String(line.epoch)}, generation ${String(line.generation)}, ${Math.max(0, at - faultedAt)} ms after the fault`,
          );
        }
        if (line.type === 'passive') reasons.push(`the secondary went passive: ${String(line.reason)}`);
      }
      if (serving === null && now - faultedAt > DEMO_TAKEOVER_TIMEOUT_MS) {
        reasons.push(`no takeover within ${DEMO_TAKEOVER_TIMEOUT_MS} ms of the fault`);
        break;
      }
      // A hung or cut-off primary comes back once the survivor serves: it must find itself deposed.
      if (
        serving !== null &&
        !resumed &&
        (o.fault === 'stop' || o.fault === 'partition') &&
        now - Number(serving.atMs) > 1000
      ) {
        resumed = true;
        if (o.fault === 'stop') primary.signal('SIGCONT');
        else resources.netns!.heal();
        view.log(
          `resume       the old primary ${o.fault === 'stop' ? 'gets SIGCONT' : 'is reconnected'}: it must not serve again`,
        );
      }
    }
    if (now >= endAtMs && (o.fault === 'none' || serving !== null)) break;
    if (!load.alive)
      throw new ChildFailedError(
        'the clients',
        `exited early: ${load.stderr().trim().split('\n').slice(-3).join(' | ')}`,
      );
    if (o.fault === 'none' && !primary.alive)
      throw new ChildFailedError('the primary', 'exited without a fault');

    const windowStart = now - 1000;
    while (recent.length > 0 && recent[0]!.at < windowStart) recent.shift();
    while (opsWindow.length > 1 && opsWindow[0]!.at < now - 1000) opsWindow.shift();
    const first = opsWindow[0];
    const last = opsWindow[opsWindow.length - 1];
    const recentPauses = recent.map((r) => r.pauseMs).sort((x, y) => x - y);
    view.progress({
      elapsedS: (now - loadStartedAt) / 1000,
      durationS: o.durationS,
      phase:
        faultedAt === null
          ? 'primary protected'
          : serving === null
            ? `${o.fault}: waiting for takeover`
            : 'survivor serving (unprotected)',
      epochsPerSec: recent.length,
      pauseP50Ms: percentile(recentPauses, 0.5),
      pauseP99Ms: percentile(recentPauses, 0.99),
      checkpointMBps: recent.reduce((sum, r) => sum + r.bytes, 0) / 1e6,
      corkDepth: faultedAt === null ? corkDepth : 0,
      clientOpsPerSec:
        first && last && last.at > first.at
          ? ((last.replies - first.replies) * 1000) / (last.at - first.at)
          : 0,
    });
    await sleep(DEMO_REFRESH_MS);
  }
  view.stop();

  // The old primary had a second to come back; it must have stayed off (deposed, or still arbitrating).
  let oldPrimaryState: string | null = null;
  if (resumed) {
    await sleep(1500);
    oldPrimaryState = primary.alive
      ? primaryState
      : `exited (${primary.process.exitCode ?? primary.process.signalCode})`;
    if (primaryState === 'unprotected')
      reasons.push('the old primary came back and served alone: split brain');
    view.log(`old primary  ${oldPrimaryState}`);
  }

  const survivor = o.fault === 'none' ? primaryService : secondaryService;
  load.send(`finish ${survivor}`);
  const result = await load.waitFor(
    (l) => l.type === 'result',
    DEMO_START_TIMEOUT_MS,
    'the clients checking the survivor',
  );
  const check = result.check as LoadCheck;
  const final = result.stats as LoadStats;
  const loadS = (Number(result.atMs) - loadStartedAt) / 1000;
  view.log(
    `checked      ${check.checkedWrites.toLocaleString('en-US')} acknowledged writes against the survivor at ${survivor}`,
  );

  const protectedS = ((faultedAt ?? Date.now()) - protectedAt) / 1000;
  const protectedLoadS = ((faultedAt ?? Number(result.atMs)) - loadStartedAt) / 1000;
  const survivorS = serving === null ? null : (Number(result.atMs) - Number(serving.atMs)) / 1000;
  const measuredS = ((faultedAt ?? Date.now()) - loadStartedAt) / 1000;
  const sortedPauses = [...pauses].sort((x, y) => x - y);
  const sortedSizes = [...sizes].sort((x, y) => x - y);
  const survivorIndex = o.fault === 'none' ? 0 : 1;
  const followed = `${final.onTargetAtStop[survivorIndex]}/${o.connections}`;
  if (check.lostCommitted > 0) reasons.push(`${check.lostCommitted} acknowledged writes lost`);
  if (check.releasedAheadOfCommit > 0)
    reasons.push(`${check.releasedAheadOfCommit} replies released ahead of their commit`);
  if (check.phantoms > 0) reasons.push(`${check.phantoms} values on the survivor that no client wrote`);
  if (final.staleReads > 0) reasons.push(`${final.staleReads} reads older than an acknowledged write`);
  if (final.errorReplies.length > 0)
    reasons.push(`error replies: ${final.errorReplies.slice(0, 3).join(', ')}`);
  if (final.onTargetAtStop[survivorIndex] !== o.connections)
    reasons.push(`only ${followed} client connections ended on the survivor`);
  const repliesAfterFault = faultedAt === null ? 0 : final.repliesByTarget[1]!;
  if (o.fault !== 'none' && repliesAfterFault === 0)
    reasons.push('the clients got no reply from the survivor');
  if (epochs === 0) reasons.push('no checkpoint was acknowledged');
  // The secondary's own report decides, not what the demo asked for.
  const seen = peerSecurity as NodeStatusReport['peer'] | null;
  if (seen === null) reasons.push('the secondary never reported its channel security while protecting');
  else if (
    o.security === 'tls' &&
    (seen.channelSecurity !== 'tls' || seen.heartbeatAuthentication === 'none')
  )
    reasons.push(
      `TLS was asked for, but the secondary reports channel ${seen.channelSecurity}, heartbeats ${seen.heartbeatAuthentication}`,
    );
  const takeoverMs =
    serving === null || faultedAt === null ? null : Math.max(0, Number(serving.atMs) - faultedAt);

  return {
    verdict: reasons.length === 0 ? 'pass' : 'fail',
    reasons,
    config: {
      durationS: o.durationS,
      epochMs: o.epochMs,
      memoryMib: o.memoryMib,
      mix: formatMix(o.mix),
      fault: o.fault,
      transport: o.transport,
      connections: o.connections,
      pipeline: o.pipeline,
      security: o.security,
    },
    epochs,
    checkpointsPerSec: protectedS > 0 ? epochs / protectedS : 0,
    pauseMs: {
      p50: percentile(sortedPauses, 0.5),
      p99: percentile(sortedPauses, 0.99),
      max: sortedPauses.at(-1) ?? 0,
    },
    checkpointMBps: measuredS > 0 ? sizes.reduce((a, b) => a + b, 0) / 1e6 / measuredS : 0,
    checkpointBytes: { p50: percentile(sortedSizes, 0.5), p99: percentile(sortedSizes, 0.99) },
    corkDepthMax,
    clients: {
      replies: final.replies,
      opsPerSec: loadS > 0 ? final.replies / loadS : 0,
      protectedOpsPerSec: protectedLoadS > 0 ? final.repliesByTarget[0]! / protectedLoadS : 0,
      survivorOpsPerSec: survivorS !== null && survivorS > 0 ? final.repliesByTarget[1]! / survivorS : null,
      reconnects: final.reconnects,
      unknown: final.unknown,
      followed,
      repliesAfterFault,
    },
    failover: {
      fault: o.fault,
      detectMs,
      takeoverMs,
      restoreMs: serving === null ? null : Number(serving.restoreMs),
      survivor: o.fault === 'none' ? 'primary' : 'secondary',
      generation: serving === null ? null : Number(serving.generation),
      resumedFromEpoch: serving === null ? null : Number(serving.epoch),
      oldPrimaryState,
    },
    outputs: {
      released: final.replies,
      checkedWrites: check.checkedWrites,
      lostCommitted: check.lostCommitted,
      releasedAheadOfCommit: check.releasedAheadOfCommit,
      phantoms: check.phantoms,
      staleReads: final.staleReads,
    },
    secondaryMemoryRatio: secondaryRatio,
    channelSecurity: peerSecurity?.channelSecurity ?? null,
    heartbeatAuthentication: peerSecurity?.heartbeatAuthentication ?? null,
    rejectedHeartbeats: rejectedTotal(peerSecurity),
    wallS: (Date.now() - startedAt) / 1000,
  };
}
