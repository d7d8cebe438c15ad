/**
 * Counters of one device, kept by its NIC thread in shared memory so that the application reads them
 * without a message. Each is written by one thread only.
 */
export interface DeviceCounters {
  /** Request messages (SEND, WRITE, READ) this NIC put on the wire, retransmissions included. */
  requestsSent: number;
  /** Payload bytes of those requests. */
  requestBytesSent: number;
  /** Request messages this NIC executed as responder. */
  requestsExecuted: number;
  /** Bytes this NIC placed into registered memory (WRITE and SEND data, READ responses). */
  bytesPlaced: number;
  /** RNR NAKs this NIC sent because no receive was posted. */
  rnrNaksSent: number;
  /** RNR NAKs this NIC received, each followed by a retry or by RNR_RETRY_EXC_ERR. */
  rnrNaksReceived: number;
  /** Completions this NIC wrote into completion queues. */
  completions: number;
  /** Requests dropped because no connected queue pair in RTR or RTS was there to take them. */
  requestsDropped: number;
  /** Link time the performance model charged for this NIC's requests, in nanoseconds (0 without a model). */
  modeledWireNs: number;
  /** Registration time the performance model charged, in nanoseconds (0 without a model). */
  modeledRegistrationNs: number;
}

/** Slot of each counter in the shared Float64Array. */
export const COUNTER_SLOT: Readonly<Record<keyof DeviceCounters, number>> = {
  requestsSent: 0,
  requestBytesSent: 1,
  requestsExecuted: 2,
  bytesPlaced: 3,
  rnrNaksSent: 4,
  rnrNaksReceived: 5,
  completions: 6,
  requestsDropped: 7,
  modeledWireNs: 8,
  modeledRegistrationNs: 9,
};

/** Float64 slots the counters occupy. */
export const COUNTER_SLOTS = 10;

/** Reads every counter from the shared array. */
export function readCounters(slots: Float64Array): DeviceCounters {
  const out = {} as DeviceCounters;
  for (const [name, slot] of Object.entries(COUNTER_SLOT) as Array<[keyof DeviceCounters, number]>) {
    out[name] = slots[slot] ?? 0;
  }
  return out;
}
