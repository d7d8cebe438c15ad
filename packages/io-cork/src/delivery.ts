import { MAX_DESTINATION_BYTES } from './constants.js';
import { InvalidArgumentError } from './errors.js';
import type { CorkItem } from './item.js';
import type { CorkSink, SinkErrorReporter } from './sink.js';

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });

/** Everything the queue knows about one destination: its sink, its backlog and its corked count. */
export class Destination {
  readonly id: number;
  readonly name: string;
  readonly nameBytes: Uint8Array;
  sink: CorkSink | undefined = undefined;
  /** Released items not yet handed to the sink, from `head` on. */
  queue: CorkItem[] = [];
  head = 0;
  /** A write is running, or returned a promise that has not settled: the next item waits. */
  busy = false;
  /** Items for this destination inside batches not yet released (they keep the destination alive). */
  corked = 0;
  /** The open local batch this destination was last registered with. */
  mark: object | undefined = undefined;
  /** Handed items since the last flush; `lastItem` is the item a flush failure is reported with. */
  touched = false;
  lastItem: CorkItem | undefined = undefined;

  constructor(id: number, name: string, nameBytes: Uint8Array) {
    this.id = id;
    this.name = name;
    this.nameBytes = nameBytes;
  }

  get backlog(): number {
    return this.queue.length - this.head;
  }
}

/** What delivery tells its queue. */
export interface DeliveryHooks {
  readonly reportError: SinkErrorReporter;
  /** Backlog shrank or an asynchronous write settled. */
  progress(): void;
}

/**
 * Hands released items to their destinations' sinks: in order per destination, one write at a time
 * per destination, without letting a slow or failing destination hold up the others. Items for a
 * destination that has no sink (a client that has not reconnected to the survivor yet) wait in its
 * backlog until one is attached or the destination is dropped.
 */
export class Delivery {
  pendingItems = 0;
  pendingBytes = 0;
  /** Writes that returned a promise which has not settled yet. */
  inFlight = 0;
  readonly #hooks: DeliveryHooks;
  readonly #byName = new Map<string, Destination>();
  #nextId = 0;
  #touched: Destination[] = [];

  constructor(hooks: DeliveryHooks) {
    this.#hooks = hooks;
  }

  get destinationCount(): number {
    return this.#byName.size;
  }

  /** The destination named `name`, created on first use. Validates the name. */
  intern(name: string): Destination {
    const known = this.#byName.get(name);
    if (known !== undefined) return known;
    if (typeof name !== 'string' || name.length === 0) {
      throw new InvalidArgumentError(`destination must be a non-empty string, got ${JSON.stringify(name)}`);
    }
    const bytes = encoder.encode(name);
    if (bytes.length > MAX_DESTINATION_BYTES) {
      throw new InvalidArgumentError(
        `destination is ${bytes.length} UTF-8 bytes; the limit is ${MAX_DESTINATION_BYTES}`,
      );
    }
    // A lone surrogate would come back as U+FFFD on the secondary: a different destination.
    if (strictDecoder.decode(bytes) !== name) {
      throw new InvalidArgumentError('destination is not well-formed Unicode (lone surrogate)');
    }
    const destination = new Destination(this.#nextId++, name, bytes);
    this.#byName.set(name, destination);
    return destination;
  }

  find(name: string): Destination | undefined {
    return this.#byName.get(name);
  }

  /** Hands `item` to its destination's sink now, or queues it behind earlier items. */
  dispatch(destination: Destination, item: CorkItem): void {
    if (
      destination.sink !== undefined &&
      !destination.busy &&
      destination.head === destination.queue.length
    ) {
      this.#deliver(destination, item);
      if (!destination.busy && destination.head < destination.queue.length) this.#drain(destination);
      return;
    }
    destination.queue.push(item);
    this.pendingItems++;
    this.pendingBytes += item.data.length;
  }

  attach(destination: Destination, sink: CorkSink): void {
    destination.sink = sink;
    this.#drain(destination);
    this.flushTouched();
  }

  detach(destination: Destination): CorkSink | undefined {
    const sink = destination.sink;
    if (sink !== undefined && destination.touched) this.flushTouched();
    destination.sink = undefined;
    return sink;
  }

  /** Discards a destination's backlog and forgets it when nothing corked refers to it. Returns items discarded. */
  drop(destination: Destination): number {
    const dropped = destination.backlog;
    for (let i = destination.head; i < destination.queue.length; i++) {
      this.pendingBytes -= destination.queue[i]!.data.length;
    }
    this.pendingItems -= dropped;
    destination.queue = [];
    destination.head = 0;
    this.detach(destination);
    if (destination.corked === 0 && !destination.busy) this.#byName.delete(destination.name);
    return dropped;
  }

  /** True when no write is outstanding and no destination with a sink has a backlog. */
  idle(): boolean {
    if (this.inFlight > 0) return false;
    if (this.pendingItems === 0) return true;
    for (const destination of this.#byName.values()) {
      if (destination.sink !== undefined && destination.backlog > 0) return false;
    }
    return true;
  }

  /** Lets every sink that was handed items since the last flush push them out. */
  flushTouched(): void {
    const touched = this.#touched;
    if (touched.length === 0) return;
    this.#touched = [];
    for (const destination of touched) {
      destination.touched = false;
      const sink = destination.sink;
      if (sink?.flush === undefined) continue;
      try {
        sink.flush();
      } catch (error) {
        if (destination.lastItem !== undefined) this.#hooks.reportError(destination.lastItem, error);
      }
    }
  }

  #deliver(destination: Destination, item: CorkItem): void {
    const sink = destination.sink!;
    destination.busy = true;
    destination.lastItem = item;
    if (!destination.touched) {
      destination.touched = true;
      this.#touched.push(destination);
    }
    let result: void | PromiseLike<void>;
    try {
      result = sink.write(item, this.#hooks.reportError);
    } catch (error) {
      this.#hooks.reportError(item, error);
      destination.busy = false;
      return;
    }
    if (result != null && typeof result.then === 'function') {
      this.inFlight++;
      result.then(
        () => this.#settle(destination),
        (error: unknown) => {
          this.#hooks.reportError(item, error);
          this.#settle(destination);
        },
      );
      return;
    }
    destination.busy = false;
  }

  #drain(destination: Destination): void {
    let moved = false;
    while (
      destination.sink !== undefined &&
      !destination.busy &&
      destination.head < destination.queue.length
    ) {
      const item = destination.queue[destination.head]!;
      destination.head++;
      this.pendingItems--;
      this.pendingBytes -= item.data.length;
      moved = true;
      this.#deliver(destination, item);
    }
    if (destination.head === destination.queue.length) {
      if (destination.head > 0) {
        destination.queue = [];
        destination.head = 0;
      }
    } else if (destination.head > 1024 && destination.head * 2 > destination.queue.length) {
      destination.queue = destination.queue.slice(destination.head);
      destination.head = 0;
    }
    if (moved) this.#hooks.progress();
  }

  #settle(destination: Destination): void {
    this.inFlight--;
    destination.busy = false;
    this.#drain(destination);
    this.flushTouched();
    this.#hooks.progress();
  }
}
