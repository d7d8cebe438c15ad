/** Every error code the mcft command reports. */
export type CliErrorCode =
  | 'MC_ERR_CLI_BAD_FLAG'
  | 'MC_ERR_CLI_CONFIG'
  | 'MC_ERR_CLI_PORT_IN_USE'
  | 'MC_ERR_CLI_PEER_UNREACHABLE'
  | 'MC_ERR_CLI_VERSION_MISMATCH'
  | 'MC_ERR_CLI_FAULT_UNAVAILABLE'
  | 'MC_ERR_CLI_CHILD_FAILED'
  | 'MC_ERR_CLI_NODE_FAILED'
  | 'MC_ERR_CLI_NO_SECURITY'
  | 'MC_ERR_CLI_CREDENTIALS'
  | 'MC_ERR_CLI_PEER_REFUSED'
  | 'MC_ERR_CLI_FILE_EXISTS'
  | 'MC_ERR_CLI_GENERATION_TAKEN';

/** Exit code of every `CliError`: a usage or environment problem, not a crash. */
export const CLI_ERROR_EXIT_CODE = 2;

/** Base class: a stable `code`, the `cause` kept, and exit code 2. */
export class CliError extends Error {
  readonly code: CliErrorCode;
  readonly exitCode = CLI_ERROR_EXIT_CODE;
  constructor(code: CliErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A flag is missing, malformed, out of range, or conflicts with another. */
export class BadFlagError extends CliError {
  readonly flag: string;
  constructor(flag: string, message: string, options?: { cause?: unknown }) {
    super('MC_ERR_CLI_BAD_FLAG', `${flag}: ${message}`, options);
    this.flag = flag;
  }
}

/** The `--config` file cannot be read, is not JSON, or holds a key or value that is not allowed. */
export class ConfigFileError extends CliError {
  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super('MC_ERR_CLI_CONFIG', `config file ${path}: ${message}`, options);
  }
}

/** An address this command must listen on is taken (or not local to this host). */
export class PortInUseError extends CliError {
  constructor(what: string, address: string, options?: { cause?: unknown }) {
    super(
      'MC_ERR_CLI_PORT_IN_USE',
      `${what}: cannot listen on ${address} (in use, or not an address of this host)`,
      options,
    );
  }
}

/** A peer (secondary, witness, etcd, a node's status endpoint) did not answer. */
export class PeerUnreachableError extends CliError {
  constructor(what: string, address: string, options?: { cause?: unknown }) {
    super('MC_ERR_CLI_PEER_UNREACHABLE', `${what} at ${address} is unreachable`, options);
  }
}

/** The peer speaks another protocol version (or another page geometry) than this mcft. */
export class VersionMismatchError extends CliError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MC_ERR_CLI_VERSION_MISMATCH', message, options);
  }
}

/** The fault asked for cannot be injected on this machine (privileges, missing tools). */
export class FaultUnavailableError extends CliError {
  constructor(fault: string, reason: string, options?: { cause?: unknown }) {
    super('MC_ERR_CLI_FAULT_UNAVAILABLE', `--fault ${fault} is not available here: ${reason}`, options);
  }
}

/** A process the demo started exited early or never reported ready. */
export class ChildFailedError extends CliError {
  constructor(what: string, message: string, options?: { cause?: unknown }) {
    super('MC_ERR_CLI_CHILD_FAILED', `${what}: ${message}`, options);
  }
}

/** The protected node could not start or stopped with an error. */
export class NodeFailedError extends CliError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MC_ERR_CLI_NODE_FAILED', message, options);
  }
}

/**
 * A primary's starting generation was already granted by the arbiter: an earlier primary used this
 * arbiter state, or a pair is running on it.
 */
export class GenerationTakenError extends CliError {
  constructor(generation: number, options?: { cause?: unknown }) {
    super(
      'MC_ERR_CLI_GENERATION_TAKEN',
      `the arbiter already granted generation ${generation} (an arbiter grants each generation once): if a primary or a secondary that took over still runs on this arbiter state, this primary must not start; if none does (an earlier attempt that never protected anything), start with --generation ${generation + 1} or a fresh arbiter state`,
      options,
    );
  }
}

/**
 * A node or witness was started with no security choice at all. mcft is secure by default: the
 * operator must name TLS certificates, a pre-shared key, or plain TCP explicitly.
 */
export class NoSecurityError extends CliError {
  constructor(command: string) {
    super(
      'MC_ERR_CLI_NO_SECURITY',
      `mcft ${command} will not start without a choice of how its channels are protected; give one of:
  --ca FILE --cert FILE --key FILE     TLS 1.3 with mutual certificate authentication (recommended)
  --psk-file FILE [--psk-identity ID]  TLS 1.3 with a pre-shared key of at least 16 random bytes
  --insecure-plain                     plain TCP, for a trusted lab network only: anyone who reaches
                                       the ports can forge checkpoints, heartbeats and votes
'mcft certs --out DIR' writes a test CA and node certificates ('--psk' adds a pre-shared key).`,
    );
  }
}

/**
 * A certificate, key or PSK file named by a flag cannot be used: missing, unreadable, not PEM,
 * expired or not valid yet, a key that does not belong to the certificate, a certificate the CA did
 * not issue. The message names the flag and the file.
 */
export class CredentialError extends CliError {
  readonly flag: string;
  readonly path: string;
  constructor(flag: string, path: string, message: string, options?: { cause?: unknown }) {
    super('MC_ERR_CLI_CREDENTIALS', `${flag} ${path}: ${message}`, options);
    this.flag = flag;
    this.path = path;
  }
}

/** The peer refused this node's credentials, or this node refused the peer's (TLS or PSK). */
export class PeerRefusedError extends CliError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MC_ERR_CLI_PEER_REFUSED', message, options);
  }
}

/** `mcft certs` would overwrite a file that exists (without `--force`). */
export class FileExistsError extends CliError {
  constructor(path: string) {
    super(
      'MC_ERR_CLI_FILE_EXISTS',
      `${path} exists; mcft certs does not overwrite keys and certificates (pass --force to replace them)`,
    );
  }
}
