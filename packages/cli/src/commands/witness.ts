import { createWitnessServer } from '@microcheckpoint/mc-core';
import { Command, Option } from 'commander';
import { BadFlagError, PortInUseError } from '../errors.js';
import { formatHostPort, parseHostPort } from '../flags.js';
import { createPrinter } from '../printer.js';
import {
  describeSecurity,
  resolveSecurity,
  type SecurityFlags,
  securityOptions,
} from '../security/node-security.js';
import { addSecurityOptions } from '../security/security-options.js';
import { untilSignal, untilStdinEnds } from './node.js';

interface WitnessFlags extends SecurityFlags {
  listen?: string;
  stateFile?: string;
  json?: boolean;
  exitWithStdin?: boolean;
}

/** `mcft witness`: the third vote of a protected pair. */
export function witnessCommand(): Command {
  const command = new Command('witness');
  addSecurityOptions(
    command
      .option('--listen <host:port>', 'address the nodes reach the witness on (required)')
      .option(
        '--state-file <path>',
        'file that keeps the last token and generation across restarts (required)',
      ),
  );
  return command
    .description(
      'run the witness arbiter: one vote per generation, strictly increasing fencing tokens, state kept in a file across restarts',
    )
    .option('--json', 'print decisions as JSON lines')
    .addOption(
      new Option('--exit-with-stdin', 'stop when stdin ends (the demo starts its witness so)').hideHelp(),
    )
    .addHelpText(
      'after',
      `
Examples:
  # host C (10.0.0.3), reachable from both nodes; only nodes with a certificate from ca.pem may vote
  $ mcft witness --listen 10.0.0.3:7100 --state-file /var/lib/mcft/witness.json \\
      --ca certs/ca.pem --cert certs/witness.pem --key certs/witness.key
  # then on the nodes: --arbiter witness --witness 10.0.0.3:7100 (with their own --ca/--cert/--key)`,
    )
    .action(async (flags: WitnessFlags) => {
      if (flags.listen === undefined)
        throw new BadFlagError('--listen', 'is required: HOST:PORT to listen on');
      const listen = parseHostPort('--listen', flags.listen, true);
      if (flags.stateFile === undefined || flags.stateFile === '')
        throw new BadFlagError(
          '--state-file',
          'is required: without it a restarted witness forgets the tokens it handed out and could grant an old generation again',
        );
      const security = resolveSecurity('witness', flags);
      const out = createPrinter(flags.json === true);
      const server = createWitnessServer({
        host: listen.host,
        port: listen.port,
        stateFile: flags.stateFile,
        security: securityOptions(security),
      });
      let bound: { address: string; port: number };
      try {
        bound = await server.listen();
      } catch (error) {
        await server.close().catch(() => undefined);
        throw new PortInUseError('--listen', formatHostPort(listen), { cause: error });
      }
      server.on('decision', (d) =>
        out.event(
          'decision',
          { ...d },
          `${d.request} generation ${d.generation} by ${d.node}: ${d.outcome}${d.token === undefined ? '' : ` (token ${d.token})`}${d.reason === undefined ? '' : ` (${d.reason})`}`,
        ),
      );
      server.on('peerError', (e) => {
        const code = (e as { code?: string }).code;
        out.event(
          'peer-error',
          { code, message: e.message },
          `client refused or failed: ${code ?? ''} ${e.message}`,
        );
      });
      server.on('persistFailed', (e) =>
        out.event('persist-failed', { message: e.message }, `could not persist: ${e.message}`),
      );
      const address = formatHostPort({ host: bound.address, port: bound.port });
      out.event(
        'listening',
        { address, port: bound.port, stateFile: flags.stateFile, security: security.mode },
        `witness listening on ${address} (state in ${flags.stateFile})\n  channels: ${describeSecurity(security)}`,
      );
      await (flags.exitWithStdin === true ? Promise.race([untilSignal(), untilStdinEnds()]) : untilSignal());
      await server.close();
      process.stdin.destroy();
    });
}
