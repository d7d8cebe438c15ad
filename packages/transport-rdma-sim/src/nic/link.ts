import type { InRequest, InResponse, OutRequest, OutResponse } from './packets.js';

/**
 * One NIC's connection to one peer NIC. Requests and responses are queued and leave on `flush()`, so
 * the NIC can coalesce what one event loop turn produced into one message or frame.
 */
export interface Link {
  /** The peer's device address. */
  readonly peer: string;
  /** False while connecting or while the wire pushes back: queue no more requests until `onWritable`. */
  readonly writable: boolean;
  /** True once the link is gone; requests queued on it will never be answered. */
  readonly failed: boolean;
  sendRequest(request: OutRequest): void;
  sendResponse(response: OutResponse): void;
  flush(): void;
}

/** What a fabric tells its NIC. */
export interface LinkHandler {
  /** Requests from the peer, in order; answer on the same link. */
  onRequests(link: Link, requests: readonly InRequest[]): void;
  /** Responses from the peer, in order. */
  onResponses(link: Link, responses: readonly InResponse[]): void;
  /** The link became writable (connected, or drained). */
  onWritable(link: Link): void;
  /** The link failed; `reason` says why. */
  onDown(link: Link, reason: Error): void;
}

/** A NIC's attachment to a fabric: its address, and links to peers. */
export interface FabricPort {
  readonly address: string;
  /** The link for sending requests to `peer`, connecting if needed; a failed link is replaced. */
  linkTo(peer: string): Link;
  /** Tells peers' NICs that a registered segment is gone, so they drop their reference to it. */
  forgetSegment(id: number): void;
  close(): Promise<void>;
}
