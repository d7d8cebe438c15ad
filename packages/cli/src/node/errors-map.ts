import {
  BadFlagError,
  CliError,
  NodeFailedError,
  PeerUnreachableError,
  PortInUseError,
  VersionMismatchError,
} from '../errors.js';

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
export function nodeStartError(error: unknown, context: { listen?: string; peer?: string }): CliError {
  if (error instanceof CliError) return error;
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
    return new PeerUnreachableError('the secondary', context.peer ?? 'its address', { cause: error });
  if (
    code.startsWith('MC_ERR_WITNESS') ||
    code === 'MC_ERR_ARBITER_UNAVAILABLE' ||
    code === 'MC_ERR_ARBITER_IO'
  )
    return new PeerUnreachableError('the arbiter', 'its address', { cause: error });
  if (code === 'MC_ERR_INVALID_OPTION')
    return new BadFlagError('option', (error as Error).message, { cause: error });
  return new NodeFailedError(`the node failed: ${(error as Error)?.message ?? String(error)}`, {
    cause: error,
  });
}
