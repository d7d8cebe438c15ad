import {
  createGuestMemory,
  createInProcessGuest,
  type GuestMemory,
  type InProcessGuest,
  type RequestHandler,
} from '@microcheckpoint/mc-core';
import { executeCommand } from './commands.js';
import { DEFAULT_MEMORY_BYTES } from './constants.js';
import { InvalidOptionError } from './errors.js';
import { createKvTable, type KvTable, openKvTable } from './kv-table.js';
import { errorReply } from './resp.js';
import { createKvServer, type KvRequest, type KvServer } from './server.js';

/** Options of `createKvService()`. */
export interface KvServiceOptions {
  /**
   * The guest memory to keep the table in.
   * @default a new 64 MiB guest memory, bitmap tracking
   */
  memory?: GuestMemory;
  /**
   * Open the table already in `memory` (restored from a checkpoint) instead of formatting a new one.
   * @default false
   */
  restore?: boolean;
  /**
   * Hash slots of a new table, a power of two.
   * @default 65536
   */
  slotCount?: number;
  /**
   * Address to listen on.
   * @default '127.0.0.1'
   */
  host?: string;
  /**
   * TCP port; 0 picks a free one.
   * @default 0
   */
  port?: number;
}

/** A running KV service: memory, table, guest and network front end. */
export interface KvService {
  readonly memory: GuestMemory;
  readonly table: KvTable;
  /** The guest the engine protects: pause/resume it, capture its memory, route its output. */
  readonly guest: InProcessGuest<KvRequest>;
  readonly server: KvServer;
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * The workload: one request, one reply, all state in the table (so in guest memory). Replies go out
 * through the guest's output, which the engine can route through its cork queue.
 */
export function createKvHandler(table: KvTable): RequestHandler<KvRequest> {
  return (request, context) => {
    const reply =
      'protocolError' in request
        ? errorReply(`ERR ${request.protocolError}`)
        : executeCommand(table, request.args);
    context.output(request.connection, reply);
  };
}

/**
 * Starts a KV service, unprotected: replies go straight to the clients' sockets. To protect it,
 * give the engine `guest` (it replaces the output with its cork queue, which calls `server.deliver`).
 */
export async function createKvService(options: KvServiceOptions = {}): Promise<KvService> {
  if (options === null || typeof options !== 'object')
    throw new InvalidOptionError('options', 'must be an object');
  if (options.restore && options.memory === undefined) {
    throw new InvalidOptionError('restore', 'needs the restored guest memory in option memory');
  }
  const memory = options.memory ?? createGuestMemory({ sizeBytes: DEFAULT_MEMORY_BYTES });
  const table = options.restore
    ? openKvTable(memory)
    : createKvTable(memory, options.slotCount === undefined ? {} : { slotCount: options.slotCount });
  let server: KvServer | undefined;
  const guest = createInProcessGuest<KvRequest>({
    memory,
    handler: createKvHandler(table),
    output: (connection, data) => server?.deliver(connection, data),
  });
  server = createKvServer({
    guest,
    ...(options.host === undefined ? {} : { host: options.host }),
    ...(options.port === undefined ? {} : { port: options.port }),
  });
  const { host, port } = await server.listen();
  const running = server;
  return {
    memory,
    table,
    guest,
    server: running,
    host,
    port,
    async close() {
      await running.close();
      await guest.close();
    },
  };
}
