import { setTimeout as sleep } from 'node:timers/promises';
import type { HostPort } from '../flags.js';
import type { WorkloadMix } from './mix.js';
import { connectResp, NoReplyError, type Reply, type RespConnection } from './resp-client.js';

/** Options of a demo load: connections that each own some keys and a counter. */
export interface LoadOptions {
  /** Where the service may be: the primary first, then the secondary's service address. */
  targets: HostPort[];
  connections: number;
  /** Commands sent per round trip on each connection. */
  pipeline: number;
  keysPerClient: number;
  mix: WorkloadMix;
  requestTimeoutMs: number;
}

/** Live counters of a load. */
export interface LoadStats {
  /** Replies received. */
  replies: number;
  /** Requests sent whose reply never came (connection died or timed out): their effect is unknown. */
  unknown: number;
  reconnects: number;
  /** Connections now on each target, in `targets` order. */
  onTarget: number[];
  /** `onTarget` when `stop()` was called. */
  onTargetAtStop: number[];
  /** Replies received from each target. */
  repliesByTarget: number[];
  /** Error replies (a bug or a full table: the demo fails on any). */
  errorReplies: string[];
  /** GETs that returned an older value than one the same client saw acknowledged (a lost write, seen live). */
  staleReads: number;
}

/** What the survivor lacks, compared with what the clients saw. */
export interface LoadCheck {
  /** Acknowledged SETs and INCRs compared. */
  checkedWrites: number;
  /** Acknowledged SETs and INCRs whose effect the survivor lacks. */
  lostCommitted: number;
  /** Replies (SET, INCR, GET) that showed an effect the survivor lacks. */
  releasedAheadOfCommit: number;
  /** Values on the survivor that no client ever wrote (or counters past every INCR sent). */
  phantoms: number;
}

/** One client's view: what it sent, what it saw acknowledged, what it read. */
class ClientLedger {
  readonly id: number;
  /** Per key: highest seq sent, acknowledged seqs (ascending), highest seq read back. */
  readonly sent: Int32Array;
  readonly acked: number[][];
  readonly seen: Int32Array;
  incrSent = 0;
  incrMaxReply = 0;
  incrReplies = 0;

  constructor(id: number, keys: number) {
    this.id = id;
    this.sent = new Int32Array(keys);
    this.seen = new Int32Array(keys);
    this.acked = Array.from({ length: keys }, () => []);
  }

  key(j: number): string {
    return `demo:c${this.id}:k${j}`;
  }

  counter(): string {
    return `demo:c${this.id}:n`;
  }
}

const PAD = 'x'.repeat(64);

/** The value of seq `seq` of key `j`: self-describing, so a read tells which write it shows. */
function writtenValue(client: number, j: number, seq: number): string {
  return `${client}:${j}:${seq}:${PAD.slice(0, (seq * 7 + j) % 64)}`;
}

function seqOf(value: Reply): number {
  if (typeof value !== 'string') return 0;
  const parts = value.split(':');
  return Number(parts[2] ?? 0) || 0;
}

/**
 * The demo's clients: each connection writes and reads its own keys, follows the service to
 * whichever target answers, and keeps a ledger to compare with the survivor at the end.
 */
export class DemoLoad {
  readonly #o: LoadOptions;
  readonly #ledgers: ClientLedger[];
  readonly #loops: Promise<void>[] = [];
  #stopped = false;
  readonly stats: LoadStats;

  constructor(options: LoadOptions) {
    this.#o = options;
    this.#ledgers = Array.from(
      { length: options.connections },
      (_, i) => new ClientLedger(i, options.keysPerClient),
    );
    this.stats = {
      replies: 0,
      unknown: 0,
      reconnects: 0,
      onTarget: options.targets.map(() => 0),
      onTargetAtStop: [],
      repliesByTarget: options.targets.map(() => 0),
      errorReplies: [],
      staleReads: 0,
    };
  }

  start(): void {
    for (const ledger of this.#ledgers) this.#loops.push(this.#run(ledger));
  }

  /** Stops sending; resolves when every connection has its last batch answered (or given up). */
  async stop(): Promise<void> {
    // Where the connections were while the load ran (they close as the loops end).
    this.stats.onTargetAtStop = [...this.stats.onTarget];
    this.#stopped = true;
    await Promise.all(this.#loops);
  }

  async #connect(prefer: number): Promise<{ conn: RespConnection; target: number } | null> {
    const n = this.#o.targets.length;
    for (let attempt = 0; !this.#stopped; attempt++) {
      const target = (prefer + attempt) % n;
      const { host, port } = this.#o.targets[target]!;
      try {
        const conn = await connectResp(host, port, this.#o.requestTimeoutMs);
        // A stopped process still accepts connections (the kernel does); only a reply proves it serves.
        const [pong] = await conn.pipeline([['PING']], this.#o.requestTimeoutMs);
        if (pong === 'PONG') return { conn, target };
        conn.close();
      } catch {
        // Not this one (refused, silent, or gone): try the next.
      }
      if (attempt % n === n - 1) await sleep(25);
    }
    return null;
  }

  async #run(ledger: ClientLedger): Promise<void> {
    const o = this.#o;
    let prefer = 0;
    let current: { conn: RespConnection; target: number } | null = null;
    let rng = (ledger.id + 1) * 0x9e3779b1;
    const random = () => {
      rng ^= rng << 13;
      rng ^= rng >>> 17;
      rng ^= rng << 5;
      return (rng >>> 0) / 0x100000000;
    };
    while (!this.#stopped) {
      if (current === null) {
        current = await this.#connect(prefer);
        if (current === null) return;
        this.stats.onTarget[current.target]!++;
      }
      const batch: string[][] = [];
      const expect: Array<{ kind: 'set' | 'get' | 'incr'; j: number; seq: number }> = [];
      for (let i = 0; i < o.pipeline; i++) {
        const roll = random() * 100;
        const j = Math.floor(random() * o.keysPerClient);
        if (roll < o.mix.set) {
          const seq = ++ledger.sent[j]!;
          batch.push(['SET', ledger.key(j), writtenValue(ledger.id, j, seq)]);
          expect.push({ kind: 'set', j, seq });
        } else if (roll < o.mix.set + o.mix.incr) {
          ledger.incrSent++;
          batch.push(['INCR', ledger.counter()]);
          expect.push({ kind: 'incr', j, seq: 0 });
        } else {
          batch.push(['GET', ledger.key(j)]);
          expect.push({ kind: 'get', j, seq: 0 });
        }
      }
      let replies: Reply[];
      try {
        replies = await current.conn.pipeline(batch, o.requestTimeoutMs);
      } catch (error) {
        if (!(error instanceof NoReplyError)) throw error;
        this.stats.unknown += batch.length;
        this.stats.reconnects++;
        this.stats.onTarget[current.target]!--;
        current.conn.close();
        // A dead or silent service: look at the other address first.
        prefer = (current.target + 1) % o.targets.length;
        current = null;
        continue;
      }
      this.stats.replies += replies.length;
      this.stats.repliesByTarget[current.target]! += replies.length;
      replies.forEach((reply, i) => {
        const e = expect[i]!;
        if (typeof reply === 'object' && reply !== null && !Array.isArray(reply)) {
          if (this.stats.errorReplies.length < 10)
            this.stats.errorReplies.push(`${batch[i]![0]}: ${reply.error}`);
          return;
        }
        if (e.kind === 'set') {
          if (reply === 'OK') ledger.acked[e.j]!.push(e.seq);
          else if (this.stats.errorReplies.length < 10)
            this.stats.errorReplies.push(`SET: ${JSON.stringify(reply)}`);
        } else if (e.kind === 'incr') {
          ledger.incrReplies++;
          if (typeof reply === 'number' && reply > ledger.incrMaxReply) ledger.incrMaxReply = reply;
        } else {
          const seq = seqOf(reply);
          const acked = ledger.acked[e.j]!;
          if (seq < (acked[acked.length - 1] ?? 0)) this.stats.staleReads++;
          if (seq > ledger.seen[e.j]!) ledger.seen[e.j] = seq;
        }
      });
    }
    if (current !== null) {
      this.stats.onTarget[current.target]!--;
      current.conn.close();
    }
  }

  /** Compares every client's ledger with what `survivor` holds now (call after `stop()`). */
  async check(survivor: HostPort): Promise<LoadCheck> {
    const conn = await connectResp(survivor.host, survivor.port, this.#o.requestTimeoutMs * 4);
    const result: LoadCheck = { checkedWrites: 0, lostCommitted: 0, releasedAheadOfCommit: 0, phantoms: 0 };
    try {
      for (const ledger of this.#ledgers) {
        const keys = this.#o.keysPerClient;
        for (let at = 0; at < keys; at += 256) {
          const count = Math.min(256, keys - at);
          const names = Array.from({ length: count }, (_, i) => ledger.key(at + i));
          const [values] = await conn.pipeline([['MGET', ...names]], this.#o.requestTimeoutMs * 4);
          (values as Reply[]).forEach((value, i) => {
            const j = at + i;
            const seq = seqOf(value);
            const acked = ledger.acked[j]!;
            result.checkedWrites += acked.length;
            // Every acknowledged SET newer than what the survivor holds is lost: its reply was released
            // although the survivor does not have its effect.
            let lost = 0;
            for (let k = acked.length - 1; k >= 0 && acked[k]! > seq; k--) lost++;
            result.lostCommitted += lost;
            result.releasedAheadOfCommit += lost + (ledger.seen[j]! > seq ? 1 : 0);
            if (
              seq > ledger.sent[j]! ||
              (typeof value === 'string' && value !== writtenValue(ledger.id, j, seq))
            )
              result.phantoms++;
          });
        }
        const [counter] = await conn.pipeline([['GET', ledger.counter()]], this.#o.requestTimeoutMs * 4);
        const n = counter === null ? 0 : Number(counter);
        result.checkedWrites += ledger.incrReplies;
        // Each INCR reply k proves k increments took effect; a reply was released for each of them.
        if (n < ledger.incrMaxReply) {
          result.lostCommitted += ledger.incrMaxReply - n;
          result.releasedAheadOfCommit += ledger.incrMaxReply - n;
        }
        if (n > ledger.incrSent) result.phantoms++;
      }
    } finally {
      conn.close();
    }
    return result;
  }
}
