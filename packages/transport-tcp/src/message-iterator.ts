import type { TransportError } from './errors.js';
import type { Message } from './frame-decoder.js';

/** How the iterator pushes back on the socket. */
export interface FlowControl {
  pause(): void;
  resume(): void;
}

/**
 * The async-iterator side of a channel: a bounded queue between the socket's 'data' events and a
 * consumer that pulls. Above `limitBytes` of queued payload it pauses the socket; once the consumer
 * has taken the queue below half of that it resumes, so memory stays bounded by about one read
 * past the limit.
 */
export class MessageIterator implements AsyncIterableIterator<Message> {
  readonly #limitBytes: number;
  readonly #flow: FlowControl;
  readonly #queue: Message[] = [];
  #head = 0;
  #queuedBytes = 0;
  #paused = false;
  #ended = false;
  #error: TransportError | undefined;
  #waiter: { resolve: (r: IteratorResult<Message>) => void; reject: (e: unknown) => void } | null = null;

  constructor(limitBytes: number, flow: FlowControl) {
    this.#limitBytes = limitBytes;
    this.#flow = flow;
  }

  /** Bytes of payload queued and not yet taken by the consumer. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  push(message: Message): void {
    if (this.#ended) return;
    if (this.#waiter) {
      const waiter = this.#waiter;
      this.#waiter = null;
      waiter.resolve({ value: message, done: false });
      return;
    }
    this.#queue.push(message);
    this.#queuedBytes += message.payload.byteLength;
    if (!this.#paused && this.#queuedBytes > this.#limitBytes) {
      this.#paused = true;
      this.#flow.pause();
    }
  }

  /** No more messages will come; `error` is thrown to the consumer after the queued messages. */
  end(error?: TransportError): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    if (this.#waiter && this.#head === this.#queue.length) this.#settleEnd(this.#waiter);
  }

  next(): Promise<IteratorResult<Message>> {
    if (this.#head < this.#queue.length) {
      const message = this.#queue[this.#head]!;
      this.#queue[this.#head++] = undefined as unknown as Message;
      if (this.#head === this.#queue.length) {
        this.#queue.length = 0;
        this.#head = 0;
      }
      this.#queuedBytes -= message.payload.byteLength;
      if (this.#paused && this.#queuedBytes <= this.#limitBytes / 2) {
        this.#paused = false;
        this.#flow.resume();
      }
      return Promise.resolve({ value: message, done: false });
    }
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject };
      if (this.#ended) this.#settleEnd(waiter);
      else this.#waiter = waiter;
    });
  }

  /** The consumer stopped early (break): drop what is queued and let the socket flow again. */
  return(): Promise<IteratorResult<Message>> {
    this.#ended = true;
    this.#queue.length = 0;
    this.#head = 0;
    this.#queuedBytes = 0;
    if (this.#paused) {
      this.#paused = false;
      this.#flow.resume();
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Message> {
    return this;
  }

  #settleEnd(waiter: { resolve: (r: IteratorResult<Message>) => void; reject: (e: unknown) => void }): void {
    this.#waiter = null;
    if (this.#error) waiter.reject(this.#error);
    else waiter.resolve({ value: undefined, done: true });
  }
}
