import type { AccessFlags } from './access.js';
import { COUNTER_SLOT } from './counters.js';
import type { DeviceContext } from './device-context.js';
import { InvalidArgumentError } from './errors.js';
import { estimateRegistrationNs } from './performance-model.js';
import type { ProtectionDomain } from './protection-domain.js';
import type { ScatterGatherElement } from './work-request.js';

/** What a peer needs to RDMA WRITE or READ a region: its address range and rkey. */
export interface RemoteRegion {
  /** Virtual address of the first byte. */
  addr: number;
  /** Bytes in the region. */
  length: number;
  rkey: number;
}

/**
 * Registered memory (`ibv_mr`). The NIC may access it, locally with `lkey` and, as far as the access
 * flags allow, remotely with `rkey`. `addr` is the region's virtual address: scatter-gather entries
 * and remote addresses are absolute addresses, as in verbs, not offsets.
 */
export class MemoryRegion {
  /** The protection domain the region belongs to; only queue pairs of the same PD can use it. */
  readonly pd: ProtectionDomain;
  /** The registered memory itself (no copy: the caller's view). */
  readonly buffer: Uint8Array;
  /** Virtual address of `buffer[0]`. */
  readonly addr: number;
  /** Bytes registered. */
  readonly length: number;
  /** Key for local access (scatter-gather entries of this device's work requests). */
  readonly lkey: number;
  /** Key for remote access (what a peer puts in its RDMA WRITE and READ requests). */
  readonly rkey: number;
  /** The access flags given at registration. */
  readonly access: AccessFlags;
  readonly #ctx: DeviceContext;
  readonly #index: number;
  readonly #valid: Int32Array;

  /** @internal use `pd.registerMemoryRegion()` */
  constructor(ctx: DeviceContext, pd: ProtectionDomain, buffer: Uint8Array, access: AccessFlags) {
    this.#ctx = ctx;
    this.pd = pd;
    this.buffer = buffer;
    this.access = access;
    this.length = buffer.byteLength;
    this.addr = ctx.addressOf(buffer);
    this.#index = ctx.allocMrIndex();
    // Keys are index x 256 + an 8-bit variant, and lkey and rkey differ, so a key used in the wrong
    // role or kept after deregistration fails as it would on hardware.
    const variant = Math.floor(Math.random() * 256);
    this.lkey = this.#index * 256 + variant;
    this.rkey = this.#index * 256 + (variant ^ 0x80);
    this.#valid = new Int32Array(new SharedArrayBuffer(4));
    this.#valid[0] = 1;
    ctx.post({
      t: 'reg',
      index: this.#index,
      lkey: this.lkey,
      rkey: this.rkey,
      pd: pd.handle,
      access,
      addr: this.addr,
      view: buffer,
      valid: this.#valid,
    });
    ctx.mrs.set(this.#index, this);
    const performance = ctx.performance;
    if (performance) {
      const costNs = estimateRegistrationNs(performance.model, this.length);
      ctx.counters[COUNTER_SLOT.modeledRegistrationNs]! += costNs;
      // Pinning and translating pages is CPU work the caller waits for; spend it for real.
      if (performance.pace) {
        const until = process.hrtime.bigint() + BigInt(Math.round(costNs));
        while (process.hrtime.bigint() < until) {
          // busy, as registration is
        }
      }
    }
  }

  /** False once deregistered. */
  get registered(): boolean {
    return Atomics.load(this.#valid, 0) === 1;
  }

  /**
   * A scatter-gather entry for `length` bytes at `offset` inside this region.
   * @throws InvalidArgumentError when the range does not fit the region.
   */
  sge(offset = 0, length = this.length - offset): ScatterGatherElement {
    if (
      !Number.isInteger(offset) ||
      !Number.isInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > this.length
    ) {
      throw new InvalidArgumentError(
        `range ${offset}+${length} does not fit a region of ${this.length} bytes`,
      );
    }
    return { addr: this.addr + offset, length, lkey: this.lkey };
  }

  /** What a peer needs to access this region remotely (send it out of band, as verbs users do). */
  remote(): RemoteRegion {
    return { addr: this.addr, length: this.length, rkey: this.rkey };
  }

  /**
   * Deregisters the region (`ibv_dereg_mr`). From the moment this returns, the NIC refuses both
   * keys: local use fails with LOC_PROT_ERR, remote use with REM_ACCESS_ERR. Idempotent.
   */
  deregister(): void {
    if (!this.registered) return;
    Atomics.store(this.#valid, 0, 0);
    this.#ctx.mrs.delete(this.#index);
    this.pd._forget(this);
    if (!this.#ctx.closed) this.#ctx.post({ t: 'dereg', index: this.#index });
    this.#ctx.freeMrIndex(this.#index);
  }
}
