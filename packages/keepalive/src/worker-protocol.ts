/** Where heartbeats are sent: the peer's heartbeat socket. Heartbeats from any other address are dropped. */
export interface PeerAddress {
  /** IP address literal (no DNS lookup: a resolver stall must not delay detection). */
  address: string;
  port: number;
  /**
   * The peer's node id. Required with `authentication`: the heartbeat keys of the pair are derived
   * from both ids. Ignored without it.
   */
  nodeId?: string;
  /**
   * A secret bound to this session with the peer (at least 16 bytes; e.g. keying material exported
   * from the authenticated data channel), mixed into the heartbeat keys so heartbeats recorded in
   * another session never verify. Only with `authentication`; never reported by `status()`.
   */
  session?: Uint8Array;
}

/** The peer as the worker needs it: where, and the keys of the pair when authenticating. */
export interface WorkerPeer {
  address: string;
  port: number;
  /** Present exactly when the keepalive authenticates heartbeats. */
  keys?: { send: Uint8Array; receive: Uint8Array };
}

/** What the heartbeat worker is started with (its `workerData`). */
export interface WorkerInit {
  buffer: SharedArrayBuffer;
  address: string;
  port: number;
  peer: WorkerPeer | undefined;
  /** Send and accept authenticated (version 2) heartbeats only. */
  authenticated: boolean;
  intervalMs: number;
  incarnation: number;
  /** A send timer firing later than this is reported as a stall of the receiver, milliseconds. */
  stallReportMs: number;
}

/** Messages from the main thread to the heartbeat worker. */
export type MainToWorker = { type: 'peer'; peer: WorkerPeer } | { type: 'close'; goodbye: boolean };

/** Messages from the heartbeat worker to the main thread. */
export type WorkerToMain =
  | { type: 'listening'; address: string; port: number; family: string }
  | { type: 'error'; message: string; code: string | undefined }
  | { type: 'closed' };
