import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PortInUseError } from '../errors.js';
import { formatHostPort, type HostPort } from '../flags.js';
import { NodeMetrics } from './prometheus.js';
import type { NodeStatusReport } from './status-report.js';

/** A node's HTTP endpoint: `GET /status` (JSON) and `GET /metrics` (Prometheus text). */
export interface StatusServer {
  readonly address: HostPort;
  close(): Promise<void>;
}

/** Content type of the Prometheus text format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Serves the node's status on `listen`; rejects with `PortInUseError` if it cannot listen there. */
export async function startStatusServer(
  listen: HostPort,
  read: () => NodeStatusReport,
): Promise<StatusServer> {
  const metrics = new NodeMetrics(read);
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET') {
      response.writeHead(405, { allow: 'GET' }).end('only GET\n');
      return;
    }
    if (path === '/status') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(read())}\n`);
    } else if (path === '/metrics') {
      metrics.text().then(
        (text) => response.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE }).end(text),
        (error: Error) => response.writeHead(500).end(`${error.message}\n`),
      );
    } else {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('try /status or /metrics\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(new PortInUseError('--metrics', formatHostPort(listen), { cause: error })),
    );
    server.listen(listen.port, listen.host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  return {
    address: { host: bound.address, port: bound.port },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
