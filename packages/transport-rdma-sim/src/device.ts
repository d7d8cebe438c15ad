import { EventEmitter } from 'node:events';
import type { Worker } from 'node:worker_threads';
import { CompletionQueue, type CqOptions } from './completion-queue.js';
import {
  DEVICE_MAX_CQE,
  DEVICE_MAX_INLINE_DATA_BYTES,
  DEVICE_MAX_MR,
  DEVICE_MAX_QP_WR,
  DEVICE_MAX_SGE,
  MAX_MESSAGE_BYTES,
  NIC_CLOSE_TIMEOUT_MS,
  NIC_START_TIMEOUT_MS,
} from './constants.js';
import { COUNTER_SLOTS, type DeviceCounters, readCounters } from './counters.js';
import { DeviceContext } from './device-context.js';
import { DeviceClosedError, InvalidOptionError, NicError } from './errors.js';
import { type Fabric, resolveFabric } from './fabric.js';
import { type FaultPlan, resolveFaultPlan } from './fault-plan.js';
import type { NicEvent, NicPerformance, NicWorkerData } from './nic/commands.js';
import { type PerformanceModel, validatePerformanceModel } from './performance-model.js';
import { ProtectionDomain } from './protection-domain.js';
import { booleanOption, optionsObject } from './validate.js';
import { startWorker, transportTcpModule } from './worker-launch.js';

/** Performance model settings of a device. */
export interface PerformanceOptions {
  /** The hardware to model, e.g. `ROCE_100G` or `INFINIBAND_200G`. Required. */
  model: PerformanceModel;
  /**
   * Pace completions so none is reported before the modeled hardware could have delivered it, and
   * spend the modeled registration time in `registerMemoryRegion()`. Without pacing the model only
   * counts (`counters().modeledWireNs`).
   * @default false
   */
  pace?: boolean;
}

/** Options of {@link createDevice}. */
export interface DeviceOptions {
  /**
   * Fabric the device's NIC attaches to: `sharedMemoryFabric()` (same host, worker threads) or
   * `tcpFabric()` (across hosts).
   * @default sharedMemoryFabric() (the process-wide 'default' shared-memory fabric)
   */
  fabric?: Fabric;
  /**
   * Optional performance model.
   * @default undefined (no model: completions as fast as the simulator goes)
   */
  performance?: PerformanceOptions;
  /**
   * Faults the NIC injects when placing data (placement order, delays).
   * @default no faults
   */
  faults?: FaultPlan;
}

/** Device limits (`ibv_device_attr`). */
export interface DeviceAttributes {
  maxQpWr: number;
  maxSge: number;
  maxCqe: number;
  maxMr: number;
  maxInlineData: number;
}

/** Port attributes (`ibv_port_attr`), plus the address peers use. */
export interface PortAttributes {
  /** What peers put in `remote.address` (stands in for LID / GID). */
  address: string;
  state: 'ACTIVE' | 'DOWN';
  /** Largest path MTU, in bytes. */
  maxMtu: number;
  /** Largest message one work request may move, in bytes (`max_msg_sz`). */
  maxMessageBytes: number;
  /** Which fabric the port is attached to. */
  fabric: Fabric['kind'];
}

/** Events of a Device. */
export interface DeviceEvents {
  /** The NIC thread failed; the device is closed. */
  error: [error: NicError];
}

/**
 * An opened RDMA device (`ibv_context`) with its NIC: a worker thread that owns the fabric
 * attachment and does everything hardware would do, so that data lands in registered memory while
 * the application's thread is busy or blocked.
 */
export class Device extends EventEmitter<DeviceEvents> {
  /** What peers put in `remote.address`. */
  readonly address: string;
  readonly fabric: Fabric;
  readonly #ctx: DeviceContext;
  readonly #worker: Worker;
  #closing: Promise<void> | null = null;

  /** @internal use `createDevice()` */
  constructor(
    worker: Worker,
    address: string,
    fabric: Fabric,
    performance: NicPerformance | null,
    counters: Float64Array,
  ) {
    super();
    this.#worker = worker;
    this.address = address;
    this.fabric = fabric;
    this.#ctx = new DeviceContext(worker, address, performance, counters);
    worker.on('message', (event: NicEvent) => {
      if (event.t === 'fatal') this.#die(new NicError(`NIC failed: ${event.message}`));
    });
    worker.on('error', (err) =>
      this.#die(new NicError(`NIC thread crashed: ${err.message}`, { cause: err })),
    );
    worker.on('exit', (code) => {
      if (!this.#closing) this.#die(new NicError(`NIC thread exited with code ${code}`));
    });
  }

  /** True once closed (or once the NIC died). */
  get closed(): boolean {
    return this.#ctx.closed;
  }

  /** Device limits (`ibv_query_device`). */
  query(): DeviceAttributes {
    return {
      maxQpWr: DEVICE_MAX_QP_WR,
      maxSge: DEVICE_MAX_SGE,
      maxCqe: DEVICE_MAX_CQE,
      maxMr: DEVICE_MAX_MR,
      maxInlineData: DEVICE_MAX_INLINE_DATA_BYTES,
    };
  }

  /** Port state and limits (`ibv_query_port`). */
  queryPort(): PortAttributes {
    return {
      address: this.address,
      state: this.#ctx.closed ? 'DOWN' : 'ACTIVE',
      maxMtu: 4096,
      maxMessageBytes: MAX_MESSAGE_BYTES,
      fabric: this.fabric.kind,
    };
  }

  /** Allocates a protection domain (`ibv_alloc_pd`). */
  allocPd(): ProtectionDomain {
    this.#ctx.assertOpen();
    return new ProtectionDomain(this.#ctx);
  }

  /** Creates a completion queue (`ibv_create_cq`). */
  createCq(options: CqOptions = {}): CompletionQueue {
    this.#ctx.assertOpen();
    return new CompletionQueue(this.#ctx, options);
  }

  /** Replaces the NIC's fault plan; applies to data placed from now on. */
  setFaultPlan(plan: FaultPlan): void {
    this.#ctx.post({ t: 'faults', plan: resolveFaultPlan(plan, 'plan') });
  }

  /** The NIC's counters, read from shared memory. */
  counters(): DeviceCounters {
    return readCounters(this.#ctx.counters);
  }

  /**
   * Closes the device (`ibv_close_device`): the NIC detaches from the fabric (peers with work
   * outstanding towards it will see RETRY_EXC_ERR), every waiter on a completion queue is released,
   * and every later verb throws DeviceClosedError. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    if (this.#ctx.closed) {
      await this.#worker.terminate();
      return;
    }
    const closed = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, NIC_CLOSE_TIMEOUT_MS);
      this.#worker.on('message', (event: NicEvent) => {
        if (event.t === 'closed') {
          clearTimeout(timer);
          resolve();
        }
      });
      this.#worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.#ctx.post({ t: 'close' });
    this.#ctx.markClosed(new DeviceClosedError());
    for (const cq of this.#ctx.cqs.values()) cq._close();
    await closed;
    await this.#worker.terminate();
  }

  #die(error: NicError): void {
    if (this.#ctx.closed) return;
    this.#ctx.markClosed(error);
    for (const cq of this.#ctx.cqs.values()) cq._close();
    this.#closing ??= this.#worker.terminate().then(() => undefined);
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }
}

/**
 * Opens a device on a fabric: starts its NIC thread and resolves once the NIC is attached (for the
 * TCP fabric: listening). Close it with `device.close()`.
 * @throws InvalidOptionError naming a bad option; NicError when the NIC cannot start
 */
export async function createDevice(options: DeviceOptions = {}): Promise<Device> {
  const o = optionsObject('options', options);
  const fabric = resolveFabric(o.fabric);
  let performance: NicPerformance | null = null;
  if (o.performance !== undefined) {
    const p = optionsObject('performance', o.performance);
    if (p.model === undefined) throw new InvalidOptionError('performance.model', 'is required');
    performance = {
      model: validatePerformanceModel(p.model),
      pace: booleanOption('performance.pace', p.pace, false),
    };
  }
  const faults = resolveFaultPlan(o.faults);
  const counters = new SharedArrayBuffer(COUNTER_SLOTS * 8);
  const workerData: NicWorkerData = {
    fabric,
    performance,
    faults,
    counters,
    tcpModule: transportTcpModule(),
  };
  const worker = startWorker('nic-worker', workerData);
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => fail(new NicError(`NIC did not start within ${NIC_START_TIMEOUT_MS} ms`)),
      NIC_START_TIMEOUT_MS,
    );
    const fail = (error: Error) => {
      clearTimeout(timer);
      worker.off('message', onMessage);
      worker.terminate().then(
        () => reject(error),
        () => reject(error),
      );
    };
    const onMessage = (event: NicEvent) => {
      if (event.t === 'ready') {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onError);
        resolve(event.address);
      } else if (event.t === 'fatal') {
        fail(new NicError(event.message));
      }
    };
    const onError = (err: Error) =>
      fail(new NicError(`NIC thread failed to start: ${err.message}`, { cause: err }));
    worker.on('message', onMessage);
    worker.once('error', onError);
  });
  return new Device(worker, address, fabric, performance, new Float64Array(counters));
}
