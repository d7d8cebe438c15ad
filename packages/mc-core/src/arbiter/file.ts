import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { ArbiterIoError, InvalidArgumentError, InvalidOptionError } from '../errors.js';
import type { Arbiter, ArbiterGrant, ArbiterRequest } from './contract.js';

/** Options of `createFileArbiter()`. */
export interface FileArbiterOptions {
  /**
   * A directory both nodes can reach (same host, or a shared file system with atomic exclusive
   * create). Created if missing. Required.
   */
  directory: string;
  /**
   * Subtracted from every grant's validity, so a holder stops acting before another node could be
   * granted the next generation (clock drift between the nodes, scheduling delay), ms.
   * @default 0
   */
  driftMarginMs?: number;
}

/** What a generation file holds. */
interface Lease {
  node: string;
  /** Wall-clock expiry (`Date.now()` ms): both nodes read it, and they share no monotonic clock. */
  expiresAt: number;
}

const FILE = /^generation\.(\d+)$/;

/**
 * The shared-file arbiter: generation `n` is owned by whoever creates the file `generation.<n>` in
 * the directory first (an exclusive create, atomic on local file systems), and the fencing token is
 * `n` itself. A newer generation is granted only when the owner of the newest one let its lease
 * expire or released it. Leases are wall-clock times in the files, so the nodes' clocks must agree
 * to within `driftMarginMs`.
 */
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class FileArbiter implements Arbiter {
  readonly directory: string;
  readonly #driftMarginMs: number;

  constructor(options: FileArbiterOptions) {
    if (options === null || typeof options !== 'object')
      throw new InvalidOptionError('options', 'must be an object');
    if (typeof options.directory !== 'string' || options.directory.length === 0)
      throw new InvalidOptionError('directory', 'must be a non-empty path');
    const drift = options.driftMarginMs ?? 0;
    if (typeof drift !== 'number' || !Number.isFinite(drift) || drift < 0)
      throw new InvalidOptionError('driftMarginMs', `must be a number >= 0, got ${String(drift)}`);
    this.directory = options.directory;
    this.#driftMarginMs = drift;
    try {
      mkdirSync(this.directory, { recursive: true });
    } catch (err) {
      throw new ArbiterIoError(`cannot create the arbiter directory ${this.directory}`, err);
    }
  }

  /** The newest generation granted and its holder, for status and tests. */
  get owner(): { generation: number; node: string } | null {
    const newest = this.#newest();
    if (newest === null) return null;
    return { generation: newest, node: this.#read(newest).node };
  }

  async acquire(request: ArbiterRequest): Promise<ArbiterGrant | null> {
    validate(request);
    const newest = this.#newest();
    if (newest !== null) {
      if (request.generation <= newest) return null;
      const lease = this.#read(newest);
      if (lease.node !== request.node && Date.now() < lease.expiresAt) return null;
    }
    const now = performance.now();
    const expiresAt = Date.now() + request.ttlMs;
    let fd: number;
    try {
      fd = openSync(this.#path(request.generation), 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return null;
      throw new ArbiterIoError(`cannot create ${this.#path(request.generation)}`, err);
    }
    try {
      writeFileSync(fd, JSON.stringify({ node: request.node, expiresAt } satisfies Lease));
    } catch (err) {
      throw new ArbiterIoError(`cannot write ${this.#path(request.generation)}`, err);
    } finally {
      closeSync(fd);
    }
    // A newer generation created meanwhile by another node wins: this one is already superseded.
    const after = this.#newest();
    if (after !== null && after > request.generation) return null;
    let validFrom = now;
    if (newest !== null) {
      // The previous holder may have renewed between our look at its lease and our create (the two
      // are not one atomic step): then it believes it holds its generation until that renewal's end.
      // Its renewals fail from now on (a newer generation exists, and a renewal that lands after our
      // create sees it and gives up), so waiting that end out is enough to never overlap it.
      const previous = this.#read(newest);
      const left = previous.expiresAt - Date.now();
      if (previous.node !== request.node && left > 0 && Number.isFinite(left)) {
        // Until the wall clock says so, not one timer: a timer may fire early against the clock (Node
        // times it from the event loop's cached clock, which lags by the current iteration's work).
        const until = previous.expiresAt + this.#driftMarginMs;
        for (let wait = until - Date.now(); wait > 0; wait = until - Date.now()) await sleep(wait);
        // Our lease ran while we waited: start it again from now, unless someone newer came meanwhile.
        validFrom = performance.now();
        this.#write(request.generation, { node: request.node, expiresAt: Date.now() + request.ttlMs });
        const newer = this.#newest();
        if (newer !== null && newer > request.generation) return null;
      }
    }
    return {
      generation: request.generation,
      node: request.node,
      token: request.generation,
      validUntilMs: validFrom + request.ttlMs - this.#driftMarginMs,
    };
  }

  async renew(grant: ArbiterGrant, ttlMs: number): Promise<ArbiterGrant | null> {
    if (!Number.isFinite(ttlMs) || ttlMs <= 0)
      throw new InvalidArgumentError(`ttlMs must be positive, got ${ttlMs}`);
    const newest = this.#newest();
    if (newest !== grant.generation) return null;
    const lease = this.#read(grant.generation);
    if (lease.node !== grant.node || Date.now() >= lease.expiresAt) return null;
    const now = performance.now();
    this.#write(grant.generation, { node: grant.node, expiresAt: Date.now() + ttlMs });
    // A newer generation created while we wrote: its owner did not see this renewal and may act once
    // our previous lease ends, so this renewal must not be used.
    if (this.#newest() !== grant.generation) return null;
    return { ...grant, validUntilMs: now + ttlMs - this.#driftMarginMs };
  }

  async release(grant: ArbiterGrant): Promise<void> {
    let lease: Lease;
    try {
      lease = this.#read(grant.generation);
    } catch {
      return;
    }
    if (lease.node === grant.node) this.#write(grant.generation, { node: grant.node, expiresAt: 0 });
  }

  #path(generation: number): string {
    return join(this.directory, `generation.${generation}`);
  }

  #newest(): number | null {
    let names: string[];
    try {
      names = readdirSync(this.directory);
    } catch (err) {
      throw new ArbiterIoError(`cannot list ${this.directory}`, err);
    }
    let newest: number | null = null;
    for (const name of names) {
      const match = FILE.exec(name);
      if (match === null) continue;
      const n = Number(match[1]);
      if (Number.isSafeInteger(n) && (newest === null || n > newest)) newest = n;
    }
    return newest;
  }

  #read(generation: number): Lease {
    let text: string;
    try {
      text = readFileSync(this.#path(generation), 'utf8');
    } catch (err) {
      throw new ArbiterIoError(`cannot read ${this.#path(generation)}`, err);
    }
    // A file caught between its exclusive create and its first write is empty: held, for now.
    if (text.length === 0) return { node: '', expiresAt: Number.POSITIVE_INFINITY };
    try {
      const lease = JSON.parse(text) as Partial<Lease>;
      if (typeof lease.node === 'string' && typeof lease.expiresAt === 'number')
        return { node: lease.node, expiresAt: lease.expiresAt };
    } catch {
      // Fall through to the error below.
    }
    throw new ArbiterIoError(`${this.#path(generation)} does not hold a lease`);
  }

  #write(generation: number, lease: Lease): void {
    // Write beside, then rename over: a reader never sees a half-written lease.
    const target = this.#path(generation);
    const temporary = `${target}.${process.pid}.tmp`;
    try {
      writeFileSync(temporary, JSON.stringify(lease));
      renameSync(temporary, target);
    } catch (err) {
      throw new ArbiterIoError(`cannot write ${target}`, err);
    }
  }
}

function validate(request: ArbiterRequest): void {
  if (request === null || typeof request !== 'object')
    throw new InvalidArgumentError('request must be an object');
  if (!Number.isSafeInteger(request.generation) || request.generation < 1)
    throw new InvalidArgumentError(`generation must be a positive integer, got ${request.generation}`);
  if (typeof request.node !== 'string' || request.node.length === 0)
    throw new InvalidArgumentError('node must be a non-empty string');
  if (!Number.isFinite(request.ttlMs) || request.ttlMs <= 0)
    throw new InvalidArgumentError(`ttlMs must be positive, got ${request.ttlMs}`);
}

/** Creates a shared-file arbiter over `directory`. */
export function createFileArbiter(options: FileArbiterOptions): FileArbiter {
  return new FileArbiter(options);
}
