// Runs the KV service, unprotected, so that real Redis clients can drive it:
//   node examples/kv/dist/main.js [--port 6379] [--host 127.0.0.1] [--memory-mib 64] [--slots 65536]
//   redis-benchmark -p 6379 -t set,get,incr,mget -P 16 -q
import { parseArgs } from 'node:util';
import { createGuestMemory } from '@microcheckpoint/mc-core';
import { createKvService } from './service.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '6379' },
    host: { type: 'string', default: '127.0.0.1' },
    'memory-mib': { type: 'string', default: '64' },
    slots: { type: 'string', default: '65536' },
  },
});

const service = await createKvService({
  memory: createGuestMemory({ sizeBytes: Number(values['memory-mib']) * 1024 * 1024 }),
  slotCount: Number(values.slots),
  host: values.host,
  port: Number(values.port),
});
console.log(`kv listening on ${service.host}:${service.port}`);

const stop = (): void => {
  void service.close().then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
