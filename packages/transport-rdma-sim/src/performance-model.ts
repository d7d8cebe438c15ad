import { InvalidOptionError } from './errors.js';
import { integerOption, numberOption, optionsObject, stringOption } from './validate.js';

/**
 * What a piece of RDMA hardware costs: used to estimate what a transfer would take on it and,
 * optionally, to pace the simulator's completions so that they never arrive sooner than the hardware
 * could deliver them.
 */
export interface PerformanceModel {
  /** Human name, for reports. */
  name: string;
  /** One-way fabric latency (NIC to NIC), in nanoseconds. */
  latencyNs: number;
  /** Link data rate, in bits per second. */
  bandwidthBitsPerSecond: number;
  /** Path MTU messages are cut into, in bytes. */
  mtuBytes: number;
  /** Header, trailer and framing bytes every packet adds on the wire, in bytes. */
  perPacketOverheadBytes: number;
  /** Cost of registering (pinning and translating) one page of memory, in nanoseconds. */
  registrationNsPerPage: number;
  /** Page size registration is charged per, in bytes. */
  pageBytes: number;
}

/**
 * 100 Gb/s RoCE v2 with a 4096-byte MTU. Per packet: Ethernet 14 + FCS 4 + preamble and gap 20 +
 * IPv4 20 + UDP 8 + BTH 12 + ICRC 4 = 82 bytes. Latency and registration cost from FACTS.md
 * (~0.6–2 µs, 0.3–0.4 µs per 4 KiB page).
 */
export const ROCE_100G: Readonly<PerformanceModel> = Object.freeze({
  name: 'RoCE v2 100 Gb/s',
  latencyNs: 1500,
  bandwidthBitsPerSecond: 100e9,
  mtuBytes: 4096,
  perPacketOverheadBytes: 82,
  registrationNsPerPage: 350,
  pageBytes: 4096,
});

/**
 * 200 Gb/s InfiniBand HDR with a 4096-byte MTU. Per packet: LRH 8 + BTH 12 + ICRC 4 + VCRC 2 = 26
 * bytes. Latency and registration cost from FACTS.md.
 */
export const INFINIBAND_200G: Readonly<PerformanceModel> = Object.freeze({
  name: 'InfiniBand HDR 200 Gb/s',
  latencyNs: 600,
  bandwidthBitsPerSecond: 200e9,
  mtuBytes: 4096,
  perPacketOverheadBytes: 26,
  registrationNsPerPage: 300,
  pageBytes: 4096,
});

/** Validates a model (every field), naming the first bad field. */
export function validatePerformanceModel(
  model: PerformanceModel,
  prefix = 'performance.model',
): PerformanceModel {
  const m = optionsObject(prefix, model);
  const required = (field: keyof PerformanceModel) => {
    if (m[field] === undefined) throw new InvalidOptionError(`${prefix}.${field}`, 'is required');
  };
  for (const field of [
    'latencyNs',
    'bandwidthBitsPerSecond',
    'mtuBytes',
    'perPacketOverheadBytes',
    'registrationNsPerPage',
    'pageBytes',
  ] as const) {
    required(field);
  }
  return {
    name: stringOption(`${prefix}.name`, m.name, 'custom'),
    latencyNs: numberOption(`${prefix}.latencyNs`, m.latencyNs, 0, 0, 1e12),
    bandwidthBitsPerSecond: numberOption(
      `${prefix}.bandwidthBitsPerSecond`,
      m.bandwidthBitsPerSecond,
      0,
      1,
      1e15,
    ),
    mtuBytes: integerOption(`${prefix}.mtuBytes`, m.mtuBytes, 0, 1, 2 ** 31),
    perPacketOverheadBytes: integerOption(
      `${prefix}.perPacketOverheadBytes`,
      m.perPacketOverheadBytes,
      0,
      0,
      65_536,
    ),
    registrationNsPerPage: numberOption(
      `${prefix}.registrationNsPerPage`,
      m.registrationNsPerPage,
      0,
      0,
      1e9,
    ),
    pageBytes: integerOption(`${prefix}.pageBytes`, m.pageBytes, 0, 1, 2 ** 30),
  };
}

/** Packets one message of `bytes` is cut into (a zero-length message is still one packet). */
export function packetCount(model: PerformanceModel, bytes: number): number {
  return Math.max(1, Math.ceil(bytes / model.mtuBytes));
}

/** Time the link is busy serialising one message of `bytes`, headers included, in nanoseconds. */
export function serializationNs(model: PerformanceModel, bytes: number): number {
  const wireBytes = bytes + packetCount(model, bytes) * model.perPacketOverheadBytes;
  return (wireBytes * 8 * 1e9) / model.bandwidthBitsPerSecond;
}

/**
 * Time from posting a train of messages (back to back on one queue pair) to the requester seeing
 * the completion of the last one: the link serialises them one after the other, the last packet
 * crosses the fabric, and its acknowledgement crosses back. In nanoseconds.
 */
export function estimateTransferNs(model: PerformanceModel, messageBytes: readonly number[]): number {
  let busy = 0;
  for (const bytes of messageBytes) busy += serializationNs(model, bytes);
  return busy + 2 * model.latencyNs;
}

/** Time registering `bytes` of memory costs, charged per page touched, in nanoseconds. */
export function estimateRegistrationNs(model: PerformanceModel, bytes: number): number {
  return Math.ceil(bytes / model.pageBytes) * model.registrationNsPerPage;
}
