import type { Channel, Message, Server } from '@microcheckpoint/transport-tcp';
import {
  TCP_COPY_THRESHOLD_BYTES,
  TCP_FRAME_TARGET_BYTES,
  TCP_LINK_HIGH_WATER_BYTES,
  TCP_MAX_FRAME_BYTES,
} from '../constants.js';
import { WireProtocolError } from '../errors.js';
import type { TcpFabric } from '../fabric.js';
import type { FabricPort, Link, LinkHandler } from './link.js';
import {
  chunkView,
  type InRequest,
  type InResponse,
  type OutChunk,
  type OutRequest,
  type OutResponse,
  ResponseKind,
  WireOp,
} from './packets.js';
import {
  decodeBatch,
  decodeHello,
  ENTRY_HEADER_BYTES,
  ENTRY_REQUEST,
  ENTRY_RESPONSE,
  type EntryHeader,
  encodeHello,
  FRAGMENT_FIRST,
  FRAGMENT_LAST,
  FRAME_BATCH,
  FRAME_HELLO,
  writeEntryHeader,
} from './tcp-codec.js';

/** The part of `@microcheckpoint/transport-tcp` the fabric uses (imported dynamically by the NIC thread). */
export type TransportTcp = typeof import('@microcheckpoint/transport-tcp');

/** Splits `address` (`tcp://host:port`) into its parts. */
export function parseTcpAddress(address: string): { host: string; port: number } {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new WireProtocolError(`not a TCP fabric address: ${address}`);
  }
  const port = Number(url.port);
  if (url.protocol !== 'tcp:' || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new WireProtocolError(`not a TCP fabric address: ${address}`);
  }
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port };
}

/**
 * The cross-host fabric. The NIC listens on TCP; it sends its requests to a peer on a connection it
 * opened to that peer, and answers a peer's requests on the connection they came in on, so every
 * queue pair's traffic stays in order in both directions.
 */
export class TcpFabricPort implements FabricPort {
  readonly address: string;
  readonly #tcp: TransportTcp;
  readonly #server: Server;
  readonly #handler: LinkHandler;
  readonly #outbound = new Map<string, TcpLink>();
  readonly #inbound = new Set<TcpLink>();

  private constructor(tcp: TransportTcp, server: Server, address: string, handler: LinkHandler) {
    this.#tcp = tcp;
    this.#server = server;
    this.address = address;
    this.#handler = handler;
    server.on('channel', (channel) => {
      const link = new TcpLink(this.address, handler, null);
      this.#inbound.add(link);
      channel.on('close', () => this.#inbound.delete(link));
      link.attach(channel);
    });
    // A broken connection is handled by its link; the server itself keeps listening.
    server.on('channelError', () => {});
    server.on('error', () => {});
  }

  static async start(tcp: TransportTcp, fabric: TcpFabric, handler: LinkHandler): Promise<TcpFabricPort> {
    const server = tcp.createServer({
      host: fabric.host,
      port: fabric.port,
      maxPayloadBytes: TCP_MAX_FRAME_BYTES,
    });
    const { port } = await server.listen();
    const host = fabric.advertiseHost.includes(':') ? `[${fabric.advertiseHost}]` : fabric.advertiseHost;
    return new TcpFabricPort(tcp, server, `tcp://${host}:${port}`, handler);
  }

  linkTo(peer: string): Link {
    const existing = this.#outbound.get(peer);
    if (existing && !existing.failed) return existing;
    const link = new TcpLink(this.address, this.#handler, peer);
    this.#outbound.set(peer, link);
    link.connect(this.#tcp);
    return link;
  }

  forgetSegment(): void {
    // Payload bytes travel in the frames; a peer never holds a reference to this NIC's memory.
  }

  async close(): Promise<void> {
    for (const link of [...this.#outbound.values(), ...this.#inbound]) link.destroy();
    this.#outbound.clear();
    this.#inbound.clear();
    await this.#server.close();
  }
}

interface Queued {
  header: EntryHeader;
  views: Uint8Array[];
  /** Payload bytes that travel (0 for a READ request and for ACKs and NAKs). */
  payloadLength: number;
  sent: number;
}

interface Partial {
  header: EntryHeader;
  data: Uint8Array[];
  received: number;
}

/** Views of `length` bytes starting at `from` across a list of views. */
function sliceViews(views: readonly Uint8Array[], from: number, length: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let skip = from;
  let left = length;
  for (const v of views) {
    if (left === 0) break;
    if (skip >= v.byteLength) {
      skip -= v.byteLength;
      continue;
    }
    const n = Math.min(v.byteLength - skip, left);
    out.push(skip === 0 && n === v.byteLength ? v : v.subarray(skip, skip + n));
    left -= n;
    skip = 0;
  }
  return out;
}

/** One TCP connection to a peer NIC. `peer` is known up front when dialling, from HELLO when accepting. */
class TcpLink implements Link {
  #peer: string | null;
  readonly #self: string;
  readonly #handler: LinkHandler;
  readonly #outbound: boolean;
  #channel: Channel | null = null;
  #state: 'connecting' | 'up' | 'down' = 'connecting';
  #blocked = false;
  readonly #queue: Queued[] = [];
  #queuedBytes = 0;
  #partial: Partial | null = null;

  constructor(self: string, handler: LinkHandler, peer: string | null) {
    this.#self = self;
    this.#handler = handler;
    this.#peer = peer;
    this.#outbound = peer !== null;
  }

  get peer(): string {
    return this.#peer ?? '';
  }

  get writable(): boolean {
    return this.#state === 'up' && !this.#blocked && this.#queuedBytes < TCP_LINK_HIGH_WATER_BYTES;
  }

  get failed(): boolean {
    return this.#state === 'down';
  }

  connect(tcp: TransportTcp): void {
    let target: { host: string; port: number };
    try {
      target = parseTcpAddress(this.peer);
    } catch (err) {
      queueMicrotask(() => this.#down(err as Error));
      return;
    }
    tcp.connect({ ...target, maxPayloadBytes: TCP_MAX_FRAME_BYTES }).then(
      (channel) => {
        if (this.#state === 'down') {
          channel.destroy();
          return;
        }
        this.attach(channel);
        channel.send(FRAME_HELLO, encodeHello(this.#self));
        this.#state = 'up';
        this.#handler.onWritable(this);
      },
      (err: Error) => this.#down(err),
    );
  }

  attach(channel: Channel): void {
    this.#channel = channel;
    channel.on('message', (message) => this.#onMessage(message));
    channel.on('drain', () => {
      this.#blocked = false;
      this.flush();
      if (this.writable) this.#handler.onWritable(this);
    });
    channel.on('error', () => {});
    channel.on('close', (error) =>
      this.#down(error ?? new Error(`connection to ${this.peer || 'peer'} closed`)),
    );
  }

  destroy(): void {
    this.#state = 'down';
    this.#channel?.destroy();
  }

  sendRequest(request: OutRequest): void {
    const payloadLength = request.op === WireOp.READ ? 0 : request.length;
    this.#enqueue(
      {
        kind: ENTRY_REQUEST,
        op: request.op,
        flags: 0,
        dstQp: request.dstQp,
        srcQp: request.srcQp,
        psn: request.psn,
        rkey: request.rkey,
        imm: request.imm,
        length: request.length,
        fragmentOffset: 0,
        fragmentLength: 0,
        rnrDelayUs: 0,
        remoteAddr: request.remoteAddr,
      },
      request.chunks,
      payloadLength,
    );
  }

  sendResponse(response: OutResponse): void {
    const payloadLength = response.kind === ResponseKind.READ_RESPONSE ? response.length : 0;
    this.#enqueue(
      {
        kind: ENTRY_RESPONSE,
        op: response.kind,
        flags: 0,
        dstQp: response.dstQp,
        srcQp: response.srcQp,
        psn: response.psn,
        rkey: 0,
        imm: 0,
        length: payloadLength,
        fragmentOffset: 0,
        fragmentLength: 0,
        rnrDelayUs: Math.round(response.rnrDelayMs * 1000),
        remoteAddr: 0,
      },
      response.chunks,
      payloadLength,
    );
  }

  #enqueue(header: EntryHeader, chunks: readonly OutChunk[], payloadLength: number): void {
    if (this.#state === 'down') return;
    this.#queue.push({ header, views: chunks.map(chunkView), payloadLength, sent: 0 });
    this.#queuedBytes += ENTRY_HEADER_BYTES + payloadLength;
  }

  /**
   * Sends queued entries in frames of about TCP_FRAME_TARGET_BYTES until the socket pushes back.
   * Headers and small payloads are copied into one buffer per frame (a frame of 4 KiB writes would
   * otherwise be hundreds of tiny parts, each checksummed and written on its own); large payloads go
   * out as views of registered memory, never copied.
   */
  flush(): void {
    const channel = this.#channel;
    if (this.#state !== 'up' || !channel) return;
    while (this.#queue.length > 0 && !this.#blocked) {
      const plan: Array<{ item: Queued; from: number; length: number; small: boolean }> = [];
      let bytes = 0;
      let staged = 0;
      for (const item of this.#queue) {
        const room = TCP_MAX_FRAME_BYTES - bytes - ENTRY_HEADER_BYTES;
        const length = Math.min(item.payloadLength - item.sent, Math.max(0, room));
        if (room <= 0 || (length === 0 && item.payloadLength > 0)) break;
        const small = length <= TCP_COPY_THRESHOLD_BYTES;
        plan.push({ item, from: item.sent, length, small });
        bytes += ENTRY_HEADER_BYTES + length;
        staged += ENTRY_HEADER_BYTES + (small ? length : 0);
        if (item.sent + length < item.payloadLength || bytes >= TCP_FRAME_TARGET_BYTES) break;
      }
      if (plan.length === 0) break;
      const stage = new Uint8Array(staged);
      const view = new DataView(stage.buffer);
      const parts: Uint8Array[] = [];
      let at = 0;
      let partStart = 0;
      let done = 0;
      for (const { item, from, length, small } of plan) {
        const first = from === 0;
        const last = from + length === item.payloadLength;
        const flags = (first ? FRAGMENT_FIRST : 0) | (last ? FRAGMENT_LAST : 0);
        writeEntryHeader(view, at, item.header, flags, from, length);
        at += ENTRY_HEADER_BYTES;
        if (length > 0) {
          const pieces = sliceViews(item.views, from, length);
          if (small) {
            for (const piece of pieces) {
              stage.set(piece, at);
              at += piece.byteLength;
            }
          } else {
            parts.push(stage.subarray(partStart, at), ...pieces);
            partStart = at;
          }
        }
        item.sent = from + length;
        this.#queuedBytes -= (first ? ENTRY_HEADER_BYTES : 0) + length;
        if (last) done++;
      }
      if (at > partStart) parts.push(stage.subarray(partStart, at));
      this.#queue.splice(0, done);
      try {
        if (!channel.send(FRAME_BATCH, parts)) this.#blocked = true;
      } catch (err) {
        this.#fail(err as Error);
        return;
      }
    }
  }

  #onMessage(message: Message): void {
    try {
      if (message.type === FRAME_HELLO) {
        if (this.#peer !== null) throw new WireProtocolError('HELLO after the connection was established');
        this.#peer = decodeHello(message.payload);
        this.#state = 'up';
        return;
      }
      if (message.type !== FRAME_BATCH) throw new WireProtocolError(`unknown frame type ${message.type}`);
      if (this.#peer === null) throw new WireProtocolError('batch before HELLO');
      this.#onBatch(message.payload);
    } catch (err) {
      this.#fail(err as Error);
    }
  }

  #onBatch(payload: Uint8Array): void {
    const requests: InRequest[] = [];
    const responses: InResponse[] = [];
    const complete = (header: EntryHeader, data: Uint8Array[]) => {
      if (header.kind === ENTRY_REQUEST) {
        requests.push({
          dstQp: header.dstQp,
          srcQp: header.srcQp,
          psn: header.psn,
          op: header.op,
          remoteAddr: header.remoteAddr,
          rkey: header.rkey,
          length: header.length,
          imm: header.imm,
          data,
        });
      } else {
        responses.push({
          dstQp: header.dstQp,
          srcQp: header.srcQp,
          psn: header.psn,
          kind: header.op,
          rnrDelayMs: header.rnrDelayUs / 1000,
          length: header.length,
          data,
        });
      }
    };
    for (const { header, data } of decodeBatch(payload)) {
      const first = (header.flags & FRAGMENT_FIRST) !== 0;
      const last = (header.flags & FRAGMENT_LAST) !== 0;
      if (first) {
        if (this.#partial) throw new WireProtocolError('a new message started inside a fragmented one');
        if (header.fragmentOffset !== 0)
          throw new WireProtocolError('first fragment does not start at offset 0');
        if (last) {
          if (
            header.fragmentLength !==
            (header.kind === ENTRY_REQUEST && header.op === WireOp.READ ? 0 : header.length)
          ) {
            throw new WireProtocolError(
              `message of ${header.length} bytes arrived with ${header.fragmentLength}`,
            );
          }
          complete(header, header.fragmentLength > 0 ? [data] : []);
        } else {
          this.#partial = { header, data: [data], received: header.fragmentLength };
        }
        continue;
      }
      const partial = this.#partial;
      if (
        !partial ||
        partial.header.kind !== header.kind ||
        partial.header.psn !== header.psn ||
        partial.header.dstQp !== header.dstQp ||
        header.fragmentOffset !== partial.received ||
        header.length !== partial.header.length
      ) {
        throw new WireProtocolError('fragment does not continue the message in progress');
      }
      partial.data.push(data);
      partial.received += header.fragmentLength;
      if (last) {
        if (partial.received !== header.length) {
          throw new WireProtocolError(`message of ${header.length} bytes ended after ${partial.received}`);
        }
        this.#partial = null;
        complete(partial.header, partial.data);
      }
    }
    if (responses.length > 0) this.#handler.onResponses(this, responses);
    if (requests.length > 0) this.#handler.onRequests(this, requests);
  }

  #fail(err: Error): void {
    this.#channel?.destroy();
    this.#down(err);
  }

  #down(reason: Error): void {
    if (this.#state === 'down' && this.#channel === null) return;
    const wasDown = this.#state === 'down';
    this.#state = 'down';
    this.#channel = null;
    this.#queue.length = 0;
    this.#queuedBytes = 0;
    this.#partial = null;
    // Only the link this NIC sends its requests on can fail its queue pairs' work.
    if (this.#outbound && !wasDown) this.#handler.onDown(this, reason);
  }
}
