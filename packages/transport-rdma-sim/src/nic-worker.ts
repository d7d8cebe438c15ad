/**
 * Entry of a NIC thread: the simulated HCA of one device. It owns the device's fabric attachment
 * and executes work requests and incoming requests while the application thread does anything it
 * likes, including blocking: placement into registered memory never needs the application.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import type { NicCommand, NicEvent, NicWorkerData } from './nic/commands.js';
import type { FabricPort } from './nic/link.js';
import { Nic } from './nic/nic.js';
import { SharedMemoryFabricPort } from './nic/shared-memory-fabric.js';
import { TcpFabricPort, type TransportTcp } from './nic/tcp-fabric.js';

const data = workerData as NicWorkerData;
const port = parentPort!;
const emit = (event: NicEvent) => port.postMessage(event);

const nic = new Nic({
  faults: data.faults,
  performance: data.performance,
  counters: new Float64Array(data.counters),
  pollCommand: () => receiveMessageOnPort(port)?.message as NicCommand | undefined,
  onClose: () => {
    fabricPort.close().then(
      () => emit({ t: 'closed' }),
      () => emit({ t: 'closed' }),
    );
  },
});

let fabricPort: FabricPort;
try {
  if (data.fabric.kind === 'shared-memory') {
    fabricPort = new SharedMemoryFabricPort(data.fabric.name, nic);
  } else {
    const tcp = (await import(data.tcpModule)) as TransportTcp;
    fabricPort = await TcpFabricPort.start(tcp, data.fabric, nic);
  }
} catch (err) {
  const error = err as Error;
  emit({
    t: 'fatal',
    message: `NIC could not attach to the fabric: ${error.message}`,
    stack: error.stack ?? '',
  });
  throw error;
}
nic.attach(fabricPort);

port.on('message', (command: NicCommand) => nic.handleCommand(command));
emit({ t: 'ready', address: fabricPort.address });
