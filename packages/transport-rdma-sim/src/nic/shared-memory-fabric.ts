import { BroadcastChannel, threadId } from 'node:worker_threads';
import { WireProtocolError } from '../errors.js';
import type { FabricPort, Link, LinkHandler } from './link.js';
import type { InRequest, InResponse, LocalSegment, OutChunk, OutRequest, OutResponse } from './packets.js';

/**
 * One message on the broadcast channel: everything one NIC had for one peer in one event loop turn.
 * Requests and responses travel packed in Float64Arrays (structured clone copies a typed array in
 * one go, where a list of objects would cost microseconds per request). A payload piece is a range
 * of one of the sender's registered segments, which the receiver copies straight out of the sender's
 * memory, like a DMA read across the fabric, or inline bytes (slot in `inline`, written as -slot-1).
 *
 * Request: dstQp, srcQp, psn, op, remoteAddr, rkey, length, imm, piece count, (segment, offset, length)...
 * Response: dstQp, srcQp, psn, kind, rnrDelayMs, length, piece count, (segment, offset, length)...
 */
interface WireBatch {
  from: string;
  /** Segments the receiver has not seen yet, sent before their first use. */
  announce: Array<{ id: number; buffer: SharedArrayBuffer; byteOffset: number; byteLength: number }>;
  /** Segments the sender deregistered: the receiver drops its reference. */
  forget: number[];
  requests: Float64Array;
  responses: Float64Array;
  inline: Uint8Array[];
}

const REQUEST_FIXED = 9;
const RESPONSE_FIXED = 7;

function channelName(address: string): string {
  return `microcheckpoint-rdma-sim:${address}`;
}

/**
 * The same-host fabric. Each NIC listens on a `BroadcastChannel` named after its address, which
 * every thread of the process can post to without any setup. Payloads do not travel: the batch
 * carries references to the sender's registered `SharedArrayBuffer`s, and the receiving NIC copies
 * directly from the sender's memory into its own, once.
 */
export class SharedMemoryFabricPort implements FabricPort {
  readonly address: string;
  readonly #handler: LinkHandler;
  readonly #rx: BroadcastChannel;
  readonly #links = new Map<string, SharedMemoryLink>();

  constructor(fabricName: string, handler: LinkHandler) {
    this.address = `shm://${fabricName}/${process.pid}.${threadId}`;
    this.#handler = handler;
    this.#rx = new BroadcastChannel(channelName(this.address));
    this.#rx.onmessage = (event) => {
      const batch = (event as unknown as { data: WireBatch }).data;
      this.#link(batch.from).receive(batch);
    };
  }

  linkTo(peer: string): Link {
    return this.#link(peer);
  }

  forgetSegment(id: number): void {
    for (const link of this.#links.values()) link.forget(id);
  }

  async close(): Promise<void> {
    this.#rx.close();
    for (const link of this.#links.values()) link.close();
    this.#links.clear();
  }

  #link(peer: string): SharedMemoryLink {
    let link = this.#links.get(peer);
    if (!link) {
      link = new SharedMemoryLink(this.address, peer, this.#handler);
      this.#links.set(peer, link);
    }
    return link;
  }
}

/** The shared-memory link to one peer NIC. It never fails: a dead peer is noticed by timeouts. */
class SharedMemoryLink implements Link {
  readonly peer: string;
  readonly writable = true;
  readonly failed = false;
  readonly #self: string;
  readonly #handler: LinkHandler;
  #tx: BroadcastChannel | null = null;
  readonly #announced = new Set<number>();
  readonly #peerSegments = new Map<number, { buffer: SharedArrayBuffer; byteOffset: number }>();
  #announce: WireBatch['announce'] = [];
  #forget: number[] = [];
  #requests: number[] = [];
  #responses: number[] = [];
  #inline: Uint8Array[] = [];

  constructor(self: string, peer: string, handler: LinkHandler) {
    this.#self = self;
    this.peer = peer;
    this.#handler = handler;
  }

  sendRequest(r: OutRequest): void {
    this.#requests.push(r.dstQp, r.srcQp, r.psn, r.op, r.remoteAddr, r.rkey, r.length, r.imm);
    this.#pushChunks(this.#requests, r.chunks);
  }

  sendResponse(r: OutResponse): void {
    this.#responses.push(r.dstQp, r.srcQp, r.psn, r.kind, r.rnrDelayMs, r.length);
    this.#pushChunks(this.#responses, r.chunks);
  }

  forget(id: number): void {
    if (this.#announced.delete(id)) this.#forget.push(id);
  }

  flush(): void {
    if (this.#requests.length === 0 && this.#responses.length === 0 && this.#forget.length === 0) return;
    const batch: WireBatch = {
      from: this.#self,
      announce: this.#announce,
      forget: this.#forget,
      requests: Float64Array.from(this.#requests),
      responses: Float64Array.from(this.#responses),
      inline: this.#inline,
    };
    this.#announce = [];
    this.#forget = [];
    this.#requests = [];
    this.#responses = [];
    this.#inline = [];
    this.#tx ??= new BroadcastChannel(channelName(this.peer));
    this.#tx.postMessage(batch);
  }

  close(): void {
    this.#tx?.close();
    this.#tx = null;
  }

  receive(batch: WireBatch): void {
    for (const s of batch.announce)
      this.#peerSegments.set(s.id, { buffer: s.buffer, byteOffset: s.byteOffset });
    if (batch.responses.length > 0) {
      const w = batch.responses;
      const responses: InResponse[] = [];
      for (let at = 0; at < w.length; ) {
        const pieces = w[at + 6]!;
        responses.push({
          dstQp: w[at]!,
          srcQp: w[at + 1]!,
          psn: w[at + 2]!,
          kind: w[at + 3]!,
          rnrDelayMs: w[at + 4]!,
          length: w[at + 5]!,
          data: this.#views(w, at + RESPONSE_FIXED, pieces, batch.inline),
        });
        at += RESPONSE_FIXED + pieces * 3;
      }
      this.#handler.onResponses(this, responses);
    }
    if (batch.requests.length > 0) {
      const w = batch.requests;
      const requests: InRequest[] = [];
      for (let at = 0; at < w.length; ) {
        const pieces = w[at + 8]!;
        requests.push({
          dstQp: w[at]!,
          srcQp: w[at + 1]!,
          psn: w[at + 2]!,
          op: w[at + 3]!,
          remoteAddr: w[at + 4]!,
          rkey: w[at + 5]!,
          length: w[at + 6]!,
          imm: w[at + 7]!,
          data: this.#views(w, at + REQUEST_FIXED, pieces, batch.inline),
        });
        at += REQUEST_FIXED + pieces * 3;
      }
      this.#handler.onRequests(this, requests);
    }
    // Forgotten after use: requests of this same batch may still name a segment deregistered since.
    for (const id of batch.forget) this.#peerSegments.delete(id);
  }

  #pushChunks(words: number[], chunks: readonly OutChunk[]): void {
    words.push(chunks.length);
    for (const chunk of chunks) {
      if (chunk.bytes) {
        words.push(-this.#inline.push(chunk.bytes), 0, chunk.bytes.byteLength);
        continue;
      }
      const segment = chunk.segment as LocalSegment;
      if (!this.#announced.has(segment.id)) {
        this.#announced.add(segment.id);
        this.#announce.push({
          id: segment.id,
          buffer: segment.buffer,
          byteOffset: segment.byteOffset,
          byteLength: segment.byteLength,
        });
      }
      words.push(segment.id, chunk.offset, chunk.length);
    }
  }

  #views(words: Float64Array, at: number, pieces: number, inline: readonly Uint8Array[]): Uint8Array[] {
    const views: Uint8Array[] = [];
    for (let i = 0; i < pieces; i++) {
      const id = words[at + i * 3]!;
      const offset = words[at + i * 3 + 1]!;
      const length = words[at + i * 3 + 2]!;
      if (id < 0) {
        const bytes = inline[-id - 1];
        if (!bytes)
          throw new WireProtocolError(`shared-memory fabric: no inline piece ${-id - 1} from ${this.peer}`);
        views.push(bytes);
        continue;
      }
      const segment = this.#peerSegments.get(id);
      // The sender announces a segment in the batch of its first use, so it is always known here.
      if (!segment)
        throw new WireProtocolError(`shared-memory fabric: unknown segment ${id} from ${this.peer}`);
      views.push(new Uint8Array(segment.buffer, segment.byteOffset + offset, length));
    }
    return views;
  }
}
