import { connect } from 'node:net';

/** A KV node as clients know it: its service address and its status port. */
export interface NodeAddress {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly statusPort: number;
}

/** What a node's status port says. */
export interface NodeStatus {
  readonly role: string;
  readonly state: string;
  readonly generation: number;
  readonly fencingToken: number;
  readonly serving: boolean;
}

/** Asks one node for its status; null when it does not answer in time (dead, stopped, cut off). */
export function probeStatus(node: NodeAddress, timeoutMs: number): Promise<NodeStatus | null> {
  return new Promise((resolve) => {
    let text = '';
    let settled = false;
    const done = (status: NodeStatus | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(status);
    };
    const socket = connect({ host: node.host, port: node.statusPort });
    const timer = setTimeout(() => done(null), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    socket.on('error', () => done(null));
    socket.on('end', () => {
      try {
        const parsed = JSON.parse(text) as NodeStatus;
        done(typeof parsed.generation === 'number' && typeof parsed.serving === 'boolean' ? parsed : null);
      } catch {
        done(null);
      }
    });
  });
}

/**
 * The service, as the architecture defines it for clients: of the nodes that answer and say they
 * serve, the one with the newest generation. Null when none does.
 */
export async function findService(
  nodes: readonly NodeAddress[],
  timeoutMs: number,
): Promise<{ node: NodeAddress; status: NodeStatus } | null> {
  const statuses = await Promise.all(nodes.map((node) => probeStatus(node, timeoutMs)));
  let best: { node: NodeAddress; status: NodeStatus } | null = null;
  statuses.forEach((status, i) => {
    if (status === null || !status.serving) return;
    if (best === null || status.generation > best.status.generation) best = { node: nodes[i]!, status };
  });
  return best;
}
