import { EventEmitter } from 'node:events';
import type {
  CheckpointReceiver,
  CheckpointShipper,
  Device,
  MemoryRegion,
  PageRun,
} from '@microcheckpoint/transport-rdma-sim';
import { InvalidArgumentError, PeerLostError } from '../errors.js';
import { MESSAGE_TYPES } from '../protocol/messages.js';
import { MalformedMessageError, UnexpectedMessageError } from '../protocol/protocol-errors.js';
import { type ChannelMessage, type MessageChannel, waitForDrain } from './channel.js';
import { nextPlacement, type Placement, RingSpace } from './rdma-ring.js';
import { decodeRdmaFrame, encodeRdmaFrame, isRdmaFrameType, type RdmaFrame } from './rdma-sim-frames.js';

/** The MC frames that travel as one-sided writes: page data, consumed as soon as it is handled. */
const PLACEABLE_TYPES: ReadonlySet<number> = new Set([MESSAGE_TYPES.SYNC_PAGES, MESSAGE_TYPES.CKPT_PAGES]);

/** How long the secondary waits for a commit marker it was told has landed, in milliseconds. */
const MARKER_WAIT_MS = 5_000;

/** Counters of the RDMA-semantics channel, for status and benchmarks. */
export interface RdmaChannelStats {
  /** Frames that went as RDMA WRITEs into the ring, and their bytes. */
  placedFrames: number;
  placedBytes: number;
  /** Bytes copied into the registered outbox first, because they lay outside guest memory. */
  bouncedBytes: number;
  /** Frames that went over the control channel. */
  controlFrames: number;
}

/**
 * What both ends share: the control channel underneath (a transport-tcp channel, carrying the MC
 * messages that are not placed and this transport's own doorbells), the device, and closing.
 */
abstract class RdmaSimChannel extends EventEmitter implements MessageChannel {
  protected readonly control: MessageChannel;
  protected readonly device: Device;
  protected failure: Error | undefined;
  readonly stats: RdmaChannelStats = { placedFrames: 0, placedBytes: 0, bouncedBytes: 0, controlFrames: 0 };
  #closed = false;

  constructor(control: MessageChannel, device: Device) {
    super();
    this.control = control;
    this.device = device;
    control.on('message', (message) => {
      if (this.#closed) return;
      try {
        if (isRdmaFrameType(message.type)) this.onRdmaFrame(decodeRdmaFrame(message.type, message.payload));
        else this.onControlMessage(message);
      } catch (err) {
        this.fail(err as Error);
      }
    });
    control.on('close', (error) => {
      this.#closed = true;
      this.onClosed();
      void this.device.close().catch(() => undefined);
      this.emit('close', this.failure ?? error);
    });
  }

  get closed(): boolean {
    return this.#closed || this.control.closed;
  }

  get remoteAddress(): string {
    return this.control.remoteAddress;
  }

  /** The control channel's protection (the one-sided writes themselves are not encrypted). */
  get security(): MessageChannel['security'] {
    return this.control.security;
  }

  exportKeyingMaterial(length: number, label: string): Uint8Array {
    if (this.control.exportKeyingMaterial === undefined)
      throw new InvalidArgumentError('the control channel is plain: it has no keying material to export');
    return this.control.exportKeyingMaterial(length, label);
  }

  abstract send(type: number, payload: readonly Uint8Array[]): boolean;
  protected abstract onRdmaFrame(frame: RdmaFrame): void;
  protected abstract onControlMessage(message: ChannelMessage): void;
  /** The control channel closed: wake whatever waits. */
  protected onClosed(): void {}

  protected sendRdmaFrame(frame: RdmaFrame): boolean {
    const { type, payload } = encodeRdmaFrame(frame);
    return this.control.send(type, [payload]);
  }

  /** Ends the channel because of `error`; `'close'` carries it. */
  protected fail(error: Error): void {
    this.failure ??= error;
    this.control.destroy();
  }

  async close(): Promise<void> {
    await this.control.close();
    await this.device.close().catch(() => undefined);
  }

  destroy(): void {
    this.control.destroy();
  }
}

interface Outgoing {
  type: number;
  parts: readonly Uint8Array[];
  bytes: number;
  placed: boolean;
}

/** Settings of the primary's end. */
export interface PlacingChannelParts {
  control: MessageChannel;
  device: Device;
  shipper: CheckpointShipper;
  ringBytes: number;
  /** Registered guest memory: parts inside its buffer are written from where they lie. */
  guestRegion: MemoryRegion;
  /** Registered bounce buffer as large as the ring, for parts that lie elsewhere. */
  outbox: MemoryRegion;
  /** Page frames smaller than this go over the control channel. */
  minPlacedBytes: number;
}

/**
 * The primary's end. Page frames are written one-sided into the secondary's ring (RDMA WRITEs and a
 * WRITE_WITH_IMM commit marker, through the checkpoint shipper), then announced with PLACED on the
 * control channel; everything else goes over the control channel. One queue keeps every frame in
 * the order `send()` saw it. `send()` copies nothing: the engine keeps a checkpoint's pages until
 * its ACK, which can only come after they were written.
 */
export class RdmaPlacingChannel extends RdmaSimChannel {
  readonly #shipper: CheckpointShipper;
  readonly #ring: RingSpace;
  readonly #guest: MemoryRegion;
  readonly #outbox: MemoryRegion;
  readonly #minPlacedBytes: number;
  readonly #queue: Outgoing[] = [];
  #queuedBytes = 0;
  #wantDrain = false;
  #pumping: Promise<void> | null = null;
  #pumpActive = false;
  #sequence = 0;
  #spaceWaiter: (() => void) | null = null;

  constructor(parts: PlacingChannelParts) {
    super(parts.control, parts.device);
    this.#shipper = parts.shipper;
    this.#ring = new RingSpace(parts.ringBytes);
    this.#guest = parts.guestRegion;
    this.#outbox = parts.outbox;
    this.#minPlacedBytes = parts.minPlacedBytes;
  }

  /** Queues one frame; false asks the caller to wait for `'drain'` (the ring's worth is queued). */
  send(type: number, payload: readonly Uint8Array[]): boolean {
    if (this.closed) return false;
    let bytes = 0;
    for (const part of payload) bytes += part.byteLength;
    const placed = PLACEABLE_TYPES.has(type) && bytes >= this.#minPlacedBytes;
    this.#queue.push({ type, parts: payload, bytes, placed });
    this.#queuedBytes += bytes;
    if (!this.#pumpActive) {
      // Set and cleared inside the pump itself: a pump that finished synchronously must not leave
      // a stale promise that keeps the next send() from starting another.
      this.#pumpActive = true;
      this.#pumping = this.#pump();
    }
    if (this.#queuedBytes < this.#ring.ringBytes) return true;
    this.#wantDrain = true;
    return false;
  }

  override async close(): Promise<void> {
    // Everything queued before close() still goes out, as over TCP.
    await this.#pumping?.catch(() => undefined);
    await super.close();
  }

  protected onRdmaFrame(frame: RdmaFrame): void {
    if (frame.kind !== 'RELEASE') throw new UnexpectedMessageError(`RDMA ${frame.kind} sent to a primary`);
    try {
      this.#ring.release(frame.releaseMark);
    } catch (err) {
      throw new MalformedMessageError(`RDMA RELEASE: ${(err as Error).message}`);
    }
    this.#wakeSpaceWaiter();
  }

  protected onControlMessage(message: ChannelMessage): void {
    this.emit('message', message);
  }

  protected override onClosed(): void {
    this.#wakeSpaceWaiter();
  }

  #wakeSpaceWaiter(): void {
    const waiter = this.#spaceWaiter;
    this.#spaceWaiter = null;
    waiter?.();
  }

  async #pump(): Promise<void> {
    try {
      for (;;) {
        const next = this.#queue[0];
        if (next === undefined) return;
        if (this.closed) throw new PeerLostError('the RDMA channel closed with frames queued');
        if (next.placed) await this.#place(next);
        else {
          this.stats.controlFrames++;
          if (!this.control.send(next.type, next.parts)) await waitForDrain(this.control);
        }
        this.#queue.shift();
        this.#queuedBytes -= next.bytes;
        if (this.#wantDrain && this.#queuedBytes < this.#ring.ringBytes / 2) {
          this.#wantDrain = false;
          this.emit('drain');
        }
      }
    } catch (err) {
      this.#queue.length = 0;
      this.#queuedBytes = 0;
      if (!this.closed) this.fail(err as Error);
    } finally {
      this.#pumpActive = false;
    }
  }

  async #place(frame: Outgoing): Promise<void> {
    let placement: Placement | null = this.#ring.reserve(frame.bytes);
    while (placement === null) {
      await new Promise<void>((resolve) => {
        this.#spaceWaiter = resolve;
      });
      if (this.closed) throw new PeerLostError('the RDMA channel closed while waiting for ring space');
      placement = this.#ring.reserve(frame.bytes);
    }
    const runs: PageRun[] = [];
    let at = placement.offset;
    for (const part of frame.parts) {
      if (part.byteLength === 0) continue;
      if (part.buffer === this.#guest.buffer.buffer) runs.push({ offset: at, bytes: part });
      else {
        // Outside registered guest memory (a message header, a copied-out run): bounce it through
        // the outbox, at the same offset as in the ring, so two frames never share outbox bytes.
        const bounce = this.#outbox.buffer.subarray(at, at + part.byteLength);
        bounce.set(part);
        this.stats.bouncedBytes += part.byteLength;
        runs.push({ offset: at, bytes: bounce });
      }
      at += part.byteLength;
    }
    const sequence = this.#sequence;
    this.#sequence = (this.#sequence + 1) >>> 0;
    await this.#shipper.ship(sequence, runs);
    this.stats.placedFrames++;
    this.stats.placedBytes += frame.bytes;
    // The marker completed: every byte is in the secondary's ring before it reads PLACED.
    const announced = this.sendRdmaFrame({
      kind: 'PLACED',
      sequence,
      frameType: frame.type,
      offset: placement.offset,
      length: frame.bytes,
      releaseMark: placement.mark,
    });
    if (!announced) await waitForDrain(this.control);
  }
}

/** A message that arrived behind a placed frame still waiting for its marker. */
type HeldMessage = ChannelMessage | Extract<RdmaFrame, { kind: 'PLACED' }>;

/** Settings of the secondary's end. */
export interface RingChannelParts {
  control: MessageChannel;
  device: Device;
  receiver: CheckpointReceiver;
  /** The registered ring the primary writes into. */
  ring: MemoryRegion;
  /** The largest frame the primary announced it would place. */
  maxFrameBytes: number;
}

/**
 * The secondary's end. A PLACED doorbell is checked against where the frame must lie (both sides
 * compute placements the same way) and against the commit marker that must have arrived with the
 * same sequence number; the frame is then handed on as a view of the ring, without a copy, and its
 * space released once the handler returned (page handlers copy what they keep). Messages behind a
 * frame whose marker is late wait, so order is kept. Replies go over the control channel.
 */
export class RdmaRingChannel extends RdmaSimChannel {
  readonly #receiver: CheckpointReceiver;
  readonly #ring: MemoryRegion;
  readonly #maxFrameBytes: number;
  #mark = 0;
  #sequence = 0;
  /** Messages that arrived while a frame waited for its marker; null when nothing waits. */
  #held: HeldMessage[] | null = null;

  constructor(parts: RingChannelParts) {
    super(parts.control, parts.device);
    this.#receiver = parts.receiver;
    this.#ring = parts.ring;
    this.#maxFrameBytes = parts.maxFrameBytes;
    this.control.on('drain', () => this.emit('drain'));
  }

  send(type: number, payload: readonly Uint8Array[]): boolean {
    this.stats.controlFrames++;
    return this.control.send(type, payload);
  }

  protected onControlMessage(message: ChannelMessage): void {
    if (this.#held !== null) this.#held.push(message);
    else this.emit('message', message);
  }

  protected onRdmaFrame(frame: RdmaFrame): void {
    if (frame.kind !== 'PLACED') throw new UnexpectedMessageError(`RDMA ${frame.kind} sent to a secondary`);
    if (this.#held !== null) this.#held.push(frame);
    else this.#deliverPlaced(frame);
  }

  /** Hands a placed frame on, or starts holding everything behind it until its marker is in. */
  #deliverPlaced(frame: Extract<RdmaFrame, { kind: 'PLACED' }>): void {
    this.#checkPlacement(frame);
    const marker = this.#receiver.poll();
    if (marker === undefined) {
      this.#held = [];
      void this.#awaitMarker(frame);
      return;
    }
    this.#emitPlaced(frame, marker.epoch);
  }

  #holding(): boolean {
    return this.#held !== null;
  }

  #checkPlacement(frame: Extract<RdmaFrame, { kind: 'PLACED' }>): void {
    const ringBytes = this.#ring.length;
    if (!PLACEABLE_TYPES.has(frame.frameType))
      throw new MalformedMessageError(
        `RDMA PLACED carries frame type ${frame.frameType}, which is never placed`,
      );
    if (frame.length === 0 || frame.length > this.#maxFrameBytes || frame.length > ringBytes)
      throw new MalformedMessageError(
        `RDMA PLACED of ${frame.length} bytes (at most ${this.#maxFrameBytes})`,
      );
    if (frame.sequence !== this.#sequence)
      throw new MalformedMessageError(
        `RDMA PLACED ${frame.sequence} out of order, expected ${this.#sequence}`,
      );
    const expected = nextPlacement(this.#mark, frame.length, ringBytes);
    if (expected.offset !== frame.offset || expected.mark !== frame.releaseMark)
      throw new MalformedMessageError(
        `RDMA PLACED at ${frame.offset} (mark ${frame.releaseMark}), expected ${expected.offset} (mark ${expected.mark})`,
      );
  }

  #emitPlaced(frame: Extract<RdmaFrame, { kind: 'PLACED' }>, markerSequence: number): void {
    if (markerSequence !== frame.sequence)
      throw new MalformedMessageError(`commit marker ${markerSequence} for RDMA PLACED ${frame.sequence}`);
    this.#sequence = (this.#sequence + 1) >>> 0;
    this.#mark = frame.releaseMark;
    const payload = this.#ring.buffer.subarray(frame.offset, frame.offset + frame.length);
    this.stats.placedFrames++;
    this.stats.placedBytes += frame.length;
    this.emit('message', { type: frame.frameType, payload });
    if (!this.closed) this.sendRdmaFrame({ kind: 'RELEASE', releaseMark: frame.releaseMark });
  }

  async #awaitMarker(frame: Extract<RdmaFrame, { kind: 'PLACED' }>): Promise<void> {
    try {
      const marker = await this.#receiver.next(MARKER_WAIT_MS);
      if (this.closed) return;
      if (marker === undefined)
        throw new MalformedMessageError(
          `no commit marker for RDMA PLACED ${frame.sequence} in ${MARKER_WAIT_MS} ms`,
        );
      this.#emitPlaced(frame, marker.epoch);
      // Deliver what queued up meanwhile, until another frame must wait.
      const held = this.#held ?? [];
      this.#held = null;
      while (held.length > 0 && !this.#holding() && !this.closed) {
        const next = held.shift()!;
        if ('kind' in next) this.#deliverPlaced(next);
        else this.emit('message', next);
      }
      // A later frame is waiting for its marker now: what is left goes first in its queue.
      if (held.length > 0) (this.#held as HeldMessage[] | null)?.unshift(...held);
    } catch (err) {
      if (!this.closed) this.fail(err as Error);
    }
  }
}
