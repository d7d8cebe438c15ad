import { connect, type Socket } from 'node:net';

/** A reply as a client sees it. */
export type Reply = string | number | bigint | null | { error: string } | Reply[];

// An independent decoder of RESP2 replies, so that the tests do not check the server with its own code.
function decodeReply(buffer: Buffer, pos: number): { value: Reply; end: number } | null {
  const lf = buffer.indexOf(10, pos);
  if (lf === -1) return null;
  const line = buffer.toString('latin1', pos + 1, lf - 1);
  const next = lf + 1;
  switch (String.fromCharCode(buffer[pos]!)) {
    case '+':
      return { value: line, end: next };
    case '-':
      return { value: { error: line }, end: next };
    case ':': {
      const n = BigInt(line);
      return {
        value: n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n,
        end: next,
      };
    }
    case '$': {
      const length = Number(line);
      if (length === -1) return { value: null, end: next };
      if (buffer.length < next + length + 2) return null;
      return { value: buffer.toString('utf8', next, next + length), end: next + length + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count === -1) return { value: null, end: next };
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
      throw new Error(`bad reply type byte ${buffer[pos]}`);
  }
}

export function encode(args: readonly string[]): Buffer {
  const parts = [`*${args.length}\r\n`];
  for (const a of args) parts.push(`$${Buffer.byteLength(a)}\r\n${a}\r\n`);
  return Buffer.from(parts.join(''));
}

/** A minimal pipelining RESP client over a real socket. */
export interface TestClient {
  readonly socket: Socket;
  /** Sends raw bytes and waits for `count` replies. */
  raw(bytes: Buffer | string, count: number): Promise<Reply[]>;
  call(...args: string[]): Promise<Reply>;
  pipeline(commands: readonly string[][]): Promise<Reply[]>;
  /** Replies received so far and not yet claimed. */
  readonly received: Reply[];
  /** Resolves when the server closes the connection. */
  readonly ended: Promise<void>;
  close(): void;
}

export async function connectClient(port: number): Promise<TestClient> {
  const socket = connect({ port, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let pending: Buffer = Buffer.alloc(0);
  const received: Reply[] = [];
  let waiter: { count: number; resolve: (r: Reply[]) => void } | undefined;
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  const settle = () => {
    if (waiter && received.length >= waiter.count) {
      const w = waiter;
      waiter = undefined;
      w.resolve(received.splice(0, w.count));
    }
  };
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let pos = 0;
    for (;;) {
      if (pos >= pending.length) break;
      const r = decodeReply(pending, pos);
      if (r === null) break;
      received.push(r.value);
      pos = r.end;
    }
    pending = pending.subarray(pos);
    settle();
  });
  const raw = (bytes: Buffer | string, count: number) =>
    new Promise<Reply[]>((resolve) => {
      waiter = { count, resolve };
      socket.write(bytes);
      settle();
    });
  return {
    socket,
    raw,
    received,
    ended,
    call: async (...args) => (await raw(encode(args), 1))[0]!,
    pipeline: (commands) => raw(Buffer.concat(commands.map(encode)), commands.length),
    close: () => socket.destroy(),
  };
}
