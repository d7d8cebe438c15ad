import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { BadFlagError, PortInUseError } from '../errors.js';
import { formatHostPort, type HostPort } from '../flags.js';
import { isLoopbackHost } from '../security/loopback.js';
import type { NodeSecurity } from '../security/node-security.js';
import { NodeMetrics } from './prometheus.js';
import type { NodeStatusReport } from './status-report.js';

/** A node's HTTP endpoint: `GET /status` (JSON) and `GET /metrics` (Prometheus text). */
export interface StatusServer {
  readonly address: HostPort;
  /** `https` (client certificates from the node's CA required) or `http`. */
  readonly scheme: 'https' | 'http';
  close(): Promise<void>;
}

/** Content type of the Prometheus text format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * How the status endpoint is protected: with TLS credentials it is HTTPS and admits only clients
 * whose certificate chains to the node's CA; otherwise it is plain HTTP and must stay on loopback
 * unless `metricsPublic` says the operator wants it reachable (a Prometheus scraper elsewhere).
 * @throws BadFlagError for a plain endpoint on a non-loopback address without `metricsPublic`
 */
export function statusServerScheme(
  listen: HostPort,
  security: NodeSecurity,
  metricsPublic: boolean,
): 'https' | 'http' {
  if (security.mode === 'tls') return 'https';
  if (!metricsPublic && !isLoopbackHost(listen.host))
    throw new BadFlagError(
      '--metrics',
      `${formatHostPort(listen)} is not a loopback address: without TLS certificates the status endpoint is plain HTTP that anyone on the network could read; bind it to 127.0.0.1, give --ca/--cert/--key (HTTPS with client certificates), or pass --metrics-public to expose it anyway (e.g. for a Prometheus scraper)`,
    );
  return 'http';
}

/** Serves the node's status on `listen`; rejects with `PortInUseError` if it cannot listen there. */
export async function startStatusServer(
  listen: HostPort,
  read: () => NodeStatusReport,
  security: NodeSecurity,
  metricsPublic: boolean,
): Promise<StatusServer> {
  const scheme = statusServerScheme(listen, security, metricsPublic);
  const metrics = new NodeMetrics(read);
  const handle = (request: IncomingMessage, response: ServerResponse) => {
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
  };
  // HTTPS: the same CA as the checkpoint channel; a client without a certificate from it is refused
  // in the TLS handshake, before any request is read.
  const server: Server =
    security.mode === 'tls'
      ? createHttpsServer(
          {
            ca: security.ca,
            cert: security.cert,
            key: security.key,
            requestCert: true,
            rejectUnauthorized: true,
            minVersion: 'TLSv1.3',
          },
          handle,
        )
      : createHttpServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(new PortInUseError('--metrics', formatHostPort(listen), { cause: error })),
    );
    server.listen(listen.port, listen.host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  return {
    address: { host: bound.address, port: bound.port },
    scheme,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
