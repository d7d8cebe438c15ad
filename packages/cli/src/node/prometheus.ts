import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { NodeStatusReport } from './status-report.js';

/**
 * Prometheus text for one node: every gauge is set from a fresh status report at scrape time, so
 * a scrape shows exactly what `/status` shows at that moment.
 */
export class NodeMetrics {
  readonly registry = new Registry();
  readonly #read: () => NodeStatusReport;
  readonly #info: Gauge<'role' | 'state' | 'node_id' | 'peer_detector' | 'version'>;
  readonly #security: Gauge<'role' | 'channel' | 'heartbeat_authentication'>;
  readonly #rejected: Counter<'role' | 'reason'>;
  readonly #gauges: Array<[Gauge<'role'>, (r: NodeStatusReport) => number | null]>;
  readonly #quantiles: Array<
    [Gauge<'role' | 'quantile'>, (r: NodeStatusReport) => NodeStatusReport['pauseMs'], number]
  >;

  constructor(read: () => NodeStatusReport) {
    this.#read = read;
    const r = this.registry;
    collectDefaultMetrics({ register: r, prefix: 'mcft_process_' });
    this.#info = new Gauge({
      name: 'mcft_node_info',
      help: 'Always 1; the labels say who this node is and what state it is in',
      labelNames: ['role', 'state', 'node_id', 'peer_detector', 'version'],
      registers: [r],
    });
    this.#security = new Gauge({
      name: 'mcft_channel_security_info',
      help: 'Always 1; channel is tls, psk or plain (a trusted lab network only), heartbeat_authentication hmac-sha256-128 or none',
      labelNames: ['role', 'channel', 'heartbeat_authentication'],
      registers: [r],
    });
    this.#rejected = new Counter({
      name: 'mcft_heartbeats_rejected_total',
      help: 'Heartbeats refused as forged, replayed, stale or unauthenticated (never taken as a sign of life)',
      labelNames: ['role', 'reason'],
      registers: [r],
    });
    // Every gauge carries the role: a labelled gauge shows no sample until set, so a number this
    // node does not have (store bytes on a primary, throttle) is absent rather than a false 0.
    const gauge = (name: string, help: string, value: (report: NodeStatusReport) => number | null) =>
      [new Gauge({ name, help, labelNames: ['role'], registers: [r] }), value] as [
        Gauge<'role'>,
        (r: NodeStatusReport) => number | null,
      ];
    this.#gauges = [
      gauge('mcft_epoch', 'Epoch running (primary) or being received (secondary)', (x) => x.epoch),
      gauge(
        'mcft_committed_epoch',
        'Last checkpoint acknowledged (primary) or committed (secondary)',
        (x) => x.committedEpoch,
      ),
      gauge('mcft_generation', 'Arbitration generation this node works under', (x) => x.generation),
      gauge('mcft_fencing_token', 'Fencing token of that generation', (x) => x.fencingToken),
      gauge('mcft_peer_connected', '1 while the data channel to the peer is open', (x) =>
        x.peer.connected ? 1 : 0,
      ),
      gauge('mcft_peer_alive', '1 while the failure detector holds the peer alive', (x) =>
        x.peer.detector === 'alive' ? 1 : 0,
      ),
      gauge('mcft_peer_heartbeat_age_seconds', 'Time since the last heartbeat from the peer', (x) =>
        x.peer.lastHeartbeatAgeMs === null ? null : x.peer.lastHeartbeatAgeMs / 1000,
      ),
      gauge('mcft_peer_phi', 'Phi-accrual suspicion of the peer', (x) => x.peer.phi),
      gauge(
        'mcft_checkpoints_per_second',
        'Checkpoints per second over the recent window',
        (x) => x.checkpointsPerSecond,
      ),
      gauge(
        'mcft_checkpoint_bytes_per_second',
        'Checkpoint page bytes per second over the recent window',
        (x) => x.bytesPerSecond,
      ),
      gauge('mcft_checkpoints_total', 'Checkpoints taken since the start', (x) => x.pauseMs.count),
      gauge(
        'mcft_cork_depth_items',
        'Outputs held until their checkpoint is acknowledged',
        (x) => x.cork.depthItems,
      ),
      gauge(
        'mcft_cork_depth_bytes',
        'Bytes of output held until their checkpoint is acknowledged',
        (x) => x.cork.depthBytes,
      ),
      gauge(
        'mcft_output_added_latency_p99_seconds',
        'p99 of the latency the cork adds to output',
        (x) => x.cork.latencyP99Ms / 1000,
      ),
      gauge('mcft_guest_memory_bytes', 'Size of the guest memory', (x) => x.memory.guestBytes),
      gauge(
        'mcft_store_ram_bytes',
        'RAM the checkpoint store holds (secondary)',
        (x) => x.memory.storeRamBytes,
      ),
      gauge(
        'mcft_store_disk_bytes',
        'Bytes the checkpoint store offloaded to disk (secondary)',
        (x) => x.memory.storeDiskBytes,
      ),
      gauge(
        'mcft_store_ram_ratio',
        'Store RAM / guest memory (secondary); 1 is a plain second copy',
        (x) => x.memory.storeRamRatio,
      ),
      gauge(
        'mcft_throttle_ratio',
        'Share of guest time throttled (absent: this engine does not throttle)',
        (x) => (x.throttlePercent === null ? null : x.throttlePercent / 100),
      ),
      gauge(
        'mcft_shortened_epochs_total',
        'Epochs cut short by the policy (primary)',
        (x) => x.shortenedEpochs,
      ),
    ];
    const quantiles = (
      name: string,
      help: string,
      pick: (x: NodeStatusReport) => NodeStatusReport['pauseMs'],
      scale: number,
    ) =>
      [new Gauge({ name, help, labelNames: ['role', 'quantile'], registers: [r] }), pick, scale] as [
        Gauge<'role' | 'quantile'>,
        (x: NodeStatusReport) => NodeStatusReport['pauseMs'],
        number,
      ];
    this.#quantiles = [
      quantiles(
        'mcft_pause_seconds',
        'Guest pause per checkpoint over the recent window (quantile 1 = max)',
        (x) => x.pauseMs,
        1 / 1000,
      ),
      quantiles(
        'mcft_checkpoint_bytes',
        'Page bytes per checkpoint over the recent window (quantile 1 = max)',
        (x) => x.checkpointBytes,
        1,
      ),
    ];
  }

  /** The Prometheus text exposition, from a status report taken now. */
  async text(): Promise<string> {
    const report = this.#read();
    this.#info.reset();
    this.#info
      .labels({
        role: report.role,
        state: report.state,
        node_id: report.nodeId,
        peer_detector: report.peer.detector,
        version: report.mcftVersion,
      })
      .set(1);
    this.#security.reset();
    this.#security
      .labels({
        role: report.role,
        channel: report.peer.channelSecurity,
        heartbeat_authentication: report.peer.heartbeatAuthentication,
      })
      .set(1);
    // The engine keeps the totals; a counter is rebuilt from them at each scrape.
    this.#rejected.reset();
    for (const [reason, count] of Object.entries(report.peer.rejectedHeartbeats))
      this.#rejected.labels({ role: report.role, reason }).inc(count);
    for (const [gauge, value] of this.#gauges) {
      const v = value(report);
      gauge.reset();
      if (v !== null) gauge.labels({ role: report.role }).set(v);
    }
    for (const [gauge, pick, scale] of this.#quantiles) {
      const p = pick(report);
      const role = report.role;
      gauge.reset();
      gauge.labels({ role, quantile: '0.5' }).set(p.p50 * scale);
      gauge.labels({ role, quantile: '0.99' }).set(p.p99 * scale);
      gauge.labels({ role, quantile: '1' }).set(p.max * scale);
    }
    return this.registry.metrics();
  }
}
