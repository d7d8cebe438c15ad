import { connect, type Socket } from 'node:net';
import { encodeCommand, type RespReply, RespReplyParser } from '@microcheckpoint/example-kv';

/** A reply as the demo's clients see it. */
export type Reply = string | number | null | { error: string } | Reply[];

/** Why a request got no reply: the connection closed, failed, or stayed silent past the deadline. */
export class NoReplyError extends Error {
  readonly reason: 'closed' | 'timeout' | 'connect';
  constructor(reason: 'closed' | 'timeout' | 'connect', message: string) {
    super(message);
    this.reason = reason;
  }
}

/** A reply in the demo's terms: bulk strings as UTF-8 text, integers as numbers. */
export function toReply(reply: RespReply): Reply {
  switch (reply.kind) {
    case 'simple':
      return reply.value;
    case 'error':
      return { error: reply.value };
    case 'integer':
      return Number(reply.value);
    case 'bulk':
      return reply.value === null ? null : Buffer.from(reply.value).toString('utf8');
    case 'array':
      return reply.value === null ? null : reply.value.map(toReply);
  }
}

/** A pipelining RESP connection: send a batch, get its replies in order, or a `NoReplyError`. */
export interface RespConnection {
  pipeline(commands: readonly string[][], timeoutMs: number): Promise<Reply[]>;
  close(): void;
  readonly closed: boolean;
}

/** Connects within `timeoutMs`. */
export function connectResp(host: string, port: number, timeoutMs: number): Promise<RespConnection> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host, port });
    socket.setNoDelay(true);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new NoReplyError('timeout', `connect to ${host}:${port} timed out`));
    }, timeoutMs);
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(new NoReplyError('connect', error.message));
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(wrap(socket));
    });
  });
}

function wrap(socket: Socket): RespConnection {
  const parser = new RespReplyParser();
  const received: Reply[] = [];
  let waiter: {
    count: number;
    resolve: (r: Reply[]) => void;
    reject: (e: Error) => void;
    timer: NodeJS.Timeout;
  } | null = null;
  let closed = false;
  const fail = (error: NoReplyError) => {
    closed = true;
    socket.destroy();
    const w = waiter;
    waiter = null;
    if (w !== null) {
      clearTimeout(w.timer);
      w.reject(error);
    }
  };
  socket.on('error', () => undefined);
  socket.on('close', () => fail(new NoReplyError('closed', 'the server closed the connection')));
  socket.on('data', (chunk: Buffer) => {
    try {
      for (const reply of parser.push(chunk)) received.push(toReply(reply));
    } catch (error) {
      fail(new NoReplyError('closed', (error as Error).message));
      return;
    }
    if (waiter !== null && received.length >= waiter.count) {
      const w = waiter;
      waiter = null;
      clearTimeout(w.timer);
      w.resolve(received.splice(0, w.count));
    }
  });
  return {
    get closed() {
      return closed;
    },
    pipeline(commands, timeoutMs) {
      if (closed) return Promise.reject(new NoReplyError('closed', 'connection closed'));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => fail(new NoReplyError('timeout', `no reply within ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiter = { count: commands.length, resolve, reject, timer };
        socket.write(Buffer.concat(commands.map((command) => encodeCommand(command))));
      });
    },
    close() {
      closed = true;
      socket.destroy();
    },
  };
}
