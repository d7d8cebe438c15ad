/** Where heartbeats are sent: the peer's heartbeat socket. Heartbeats from any other address are dropped. */
export interface PeerAddress {
  /** IP address literal (no DNS lookup: a resolver stall must not delay detection). */
  address: string;
  port: number;
}

/** What the heartbeat worker is started with (its `workerData`). */
export interface WorkerInit {
  buffer: SharedArrayBuffer;
  address: string;
  port: number;
  peer: PeerAddress | undefined;
  intervalMs: number;
  incarnation: number;
  /** A send timer firing later than this is reported as a stall of the receiver, milliseconds. */
  stallReportMs: number;
}

/** Messages from the main thread to the heartbeat worker. */
export type MainToWorker = { type: 'peer'; peer: PeerAddress } | { type: 'close'; goodbye: boolean };

/** Messages from the heartbeat worker to the main thread. */
export type WorkerToMain =
  | { type: 'listening'; address: string; port: number; family: string }
  | { type: 'error'; message: string; code: string | undefined }
  | { type: 'closed' };
