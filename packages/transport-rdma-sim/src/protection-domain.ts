import { ACCESS_ALL, Access, type AccessFlags, describeAccess } from './access.js';
import type { DeviceContext } from './device-context.js';
import { InvalidArgumentError, RegistrationError, ResourceBusyError } from './errors.js';
import { MemoryRegion } from './memory-region.js';
import { type QpOptions, QueuePair } from './queue-pair.js';

/**
 * A protection domain (`ibv_pd`): memory regions and queue pairs of one PD can be used together; a
 * key of another PD is refused by the NIC (LOC_PROT_ERR locally, REM_ACCESS_ERR remotely).
 */
export class ProtectionDomain {
  /** Device-local handle of the PD. */
  readonly handle: number;
  readonly #ctx: DeviceContext;
  readonly #regions = new Set<MemoryRegion>();
  readonly #qps = new Set<QueuePair>();
  #deallocated = false;

  /** @internal use `device.allocPd()` */
  constructor(ctx: DeviceContext) {
    this.#ctx = ctx;
    this.handle = ctx.allocPdHandle();
  }

  /**
   * Registers memory with the NIC (`ibv_reg_mr`). The memory must be backed by a SharedArrayBuffer,
   * since the NIC runs on another thread: that is the simulator's stand-in for pinning. The view is
   * not copied; the NIC reads and writes it in place.
   * @param buffer the memory, a view of a SharedArrayBuffer
   * @param access {@link Access} flags; REMOTE_WRITE requires LOCAL_WRITE, as in verbs
   * @throws RegistrationError for memory that is not shared or empty, or for invalid flags (EINVAL)
   */
  registerMemoryRegion(buffer: Uint8Array, access: AccessFlags): MemoryRegion {
    this.#assertUsable();
    if (!(buffer instanceof Uint8Array)) throw new RegistrationError('buffer must be a Uint8Array');
    if (!(buffer.buffer instanceof SharedArrayBuffer)) {
      throw new RegistrationError(
        'buffer must be a view of a SharedArrayBuffer: the NIC thread accesses it in place',
      );
    }
    if (buffer.byteLength === 0) throw new RegistrationError('buffer must not be empty');
    if (!Number.isInteger(access) || access < 0 || (access & ~ACCESS_ALL) !== 0) {
      throw new RegistrationError(`access ${String(access)} has bits this device does not know`);
    }
    if ((access & Access.REMOTE_WRITE) !== 0 && (access & Access.LOCAL_WRITE) === 0) {
      throw new RegistrationError(`access ${describeAccess(access)}: REMOTE_WRITE requires LOCAL_WRITE`);
    }
    const mr = new MemoryRegion(this.#ctx, this, buffer, access);
    this.#regions.add(mr);
    return mr;
  }

  /**
   * Creates a reliable-connected queue pair in this PD (`ibv_create_qp`), in state RESET.
   * @throws InvalidOptionError naming the bad option
   */
  createQp(options: QpOptions): QueuePair {
    this.#assertUsable();
    const qp = new QueuePair(this.#ctx, this, options);
    this.#qps.add(qp);
    return qp;
  }

  /**
   * Frees the PD (`ibv_dealloc_pd`).
   * @throws ResourceBusyError (EBUSY) while memory regions or queue pairs of the PD exist
   */
  dealloc(): void {
    if (this.#deallocated) return;
    if (this.#regions.size > 0 || this.#qps.size > 0) {
      throw new ResourceBusyError(
        `protection domain still holds ${this.#regions.size} memory region(s) and ${this.#qps.size} queue pair(s)`,
      );
    }
    this.#deallocated = true;
  }

  /** @internal a region or queue pair of this PD is gone */
  _forget(resource: MemoryRegion | QueuePair): void {
    if (resource instanceof MemoryRegion) this.#regions.delete(resource);
    else this.#qps.delete(resource);
  }

  #assertUsable(): void {
    this.#ctx.assertOpen();
    if (this.#deallocated) throw new InvalidArgumentError('protection domain was deallocated');
  }
}
