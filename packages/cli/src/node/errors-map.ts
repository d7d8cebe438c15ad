import {
  BadFlagError,
  CliError,
  GenerationTakenError,
  NodeFailedError,
  PeerRefusedError,
  PeerUnreachableError,
  PortInUseError,
  VersionMismatchError,
} from '../errors.js';
import { refusalIn } from '../security/refusal.js';

const LISTEN_CODES = new Set(['EADDRINUSE', 'EADDRNOTAVAIL', 'EACCES']);

/** The first error in the cause chain that carries one of `codes`. */
function causeWith(error: unknown, codes: (code: string) => boolean): (Error & { code: string }) | null {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && codes(code)) return e as Error & { code: string };
  }
  return null;
}

/**
 * Turns what the engine or the OS threw while a node starts into the CLI's typed errors: a port in
 * use, a peer that does not answer, a peer of another version, or the engine's own error.
 */
export function nodeStartError(
  error: unknown,
  context: { listen?: string; peer?: string; security?: 'tls' | 'psk' | 'plain'; generation?: number },
): CliError {
  if (error instanceof CliError) return error;
  const refusal = refusalIn(error);
  if (refusal !== null)
    return new PeerRefusedError(
      `${context.peer === undefined ? 'the peer' : `the secondary at ${context.peer}`} and this node refused each other's credentials (${refusal}); both nodes must use certificates from the same --ca (or the same --psk-file and --psk-identity)`,
      { cause: error },
    );
  if (causeWith(error, (c) => LISTEN_CODES.has(c)) !== null)
    return new PortInUseError('--listen', context.listen ?? 'its address', { cause: error });
  const mc = causeWith(error, (c) => c.startsWith('MC_ERR_'));
  const code = mc?.code ?? '';
  if (code === 'MC_ERR_PROTOCOL_HANDSHAKE')
    return new VersionMismatchError(
      `the peer's protocol version or guest geometry does not match this node (${mc!.message}); run the same mcft version with the same --memory-mib on both nodes`,
      { cause: error },
    );
  if (code === 'MC_ERR_ATTACH')
    return new PeerUnreachableError(
      context.security === 'tls' || context.security === 'psk'
        ? `the secondary (or the two nodes refused each other's ${context.security === 'tls' ? 'certificates: in TLS 1.3 the client may learn of a refusal only as a closed channel' : 'pre-shared keys'}; the secondary's log says why)`
        : 'the secondary',
      context.peer ?? 'its address',
      { cause: error },
    );
  if (
    code.startsWith('MC_ERR_WITNESS') ||
    code === 'MC_ERR_ARBITER_UNAVAILABLE' ||
    code === 'MC_ERR_ARBITER_IO'
  )
    return new PeerUnreachableError('the arbiter', 'its address', { cause: error });
  // Only a primary's start asks the arbiter; losing there means its generation was granted before.
  if (code === 'MC_ERR_ARBITRATION_LOST' && context.generation !== undefined)
    return new GenerationTakenError(context.generation, { cause: error });
  if (code === 'MC_ERR_INVALID_OPTION')
    return new BadFlagError('option', (error as Error).message, { cause: error });
  return new NodeFailedError(`the node failed: ${(error as Error)?.message ?? String(error)}`, {
    cause: error,
  });
}
