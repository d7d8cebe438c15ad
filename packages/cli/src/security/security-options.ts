import type { Command } from 'commander';

/**
 * The security flags of `mcft primary`, `secondary` and `witness`. Exactly one way must be chosen
 * (secure by default): certificates, a pre-shared key, or plain TCP named explicitly.
 */
export function addSecurityOptions(command: Command): Command {
  return command
    .option('--ca <file>', 'TLS 1.3: the CA certificate (PEM) every peer certificate must chain to')
    .option('--cert <file>', "TLS 1.3: this node's certificate (PEM), issued by --ca")
    .option('--key <file>', "TLS 1.3: this node's private key (PEM)")
    .option(
      '--psk-file <file>',
      'TLS 1.3 with a pre-shared key instead: a file of at least 16 random bytes (hex or raw)',
    )
    .option('--psk-identity <id>', 'with --psk-file: the identity both sides use (default: mcft)')
    .option(
      '--insecure-plain',
      'plain TCP, no authentication or encryption: a trusted lab network only (anyone who reaches the ports can forge checkpoints, heartbeats and votes)',
    );
}
