import { connect, type Socket } from 'node:net';
import { BadReplyError } from '../errors.js';

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

/** Decodes one RESP2 reply at `pos`, or returns null when it is not complete yet. */
export function decodeReply(buffer: Buffer, pos: number): { value: Reply; end: number } | null {
  const lf = buffer.indexOf(10, pos);
  if (lf === -1) return null;
  const line = buffer.toString('latin1', pos + 1, lf - 1);
  const next = lf + 1;
  switch (buffer[pos]) {
    case 0x2b: // +
      return { value: line, end: next };
    case 0x2d: // -
      return { value: { error: line }, end: next };
    case 0x3a: // :
      return { value: Number(line), end: next };
    case 0x24: {
      // $
      const length = Number(line);
      if (!Number.isSafeInteger(length)) throw new BadReplyError(`bad bulk length ${JSON.stringify(line)}`);
      if (length < 0) return { value: null, end: next };
      if (buffer.length < next + length + 2) return null;
      return { value: buffer.toString('utf8', next, next + length), end: next + length + 2 };
    }
    case 0x2a: {
      // *
      const count = Number(line);
      if (!Number.isSafeInteger(count)) throw new BadReplyError(`bad array length ${JSON.stringify(line)}`);
      if (count < 0) return { value: null, end: next };
      const items: Reply[] = [];
      let at = next;
      for (let i = 0; i < count; i++) {
        const item = decodeReply(buffer, at);
        if (item === null) return null;
        items.push(item.value);
        at = item.end;
      }
      return { value: items, end: at };
    }
    default:
      throw new BadReplyError(`not a RESP reply: type byte ${buffer[pos]} at offset ${pos}`);
  }
}

/** Encodes a command as a RESP array of bulk strings. */
export function encodeCommand(args: readonly string[]): string {
  let out = `*${args.length}\r\n`;
  for (const a of args) out += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
  return out;
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
  let pending: Buffer = Buffer.alloc(0);
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
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let pos = 0;
    try {
      for (;;) {
        if (pos >= pending.length) break;
        const r = decodeReply(pending, pos);
        if (r === null) break;
        received.push(r.value);
        pos = r.end;
      }
    } catch (error) {
      fail(new NoReplyError('closed', (error as Error).message));
      return;
    }
    pending = pending.subarray(pos);
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
        socket.write(commands.map(encodeCommand).join(''));
      });
    },
    close() {
      closed = true;
      socket.destroy();
    },
  };
}
