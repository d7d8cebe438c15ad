import { Command, CommanderError } from 'commander';
import { benchCommand } from './commands/bench.js';
import { certsCommand } from './commands/certs.js';
import { demoClientsCommand, demoCommand } from './commands/demo.js';
import { nodeCommand } from './commands/node.js';
import { statusCommand } from './commands/status.js';
import { witnessCommand } from './commands/witness.js';
import { CLI_ERROR_EXIT_CODE, CliError } from './errors.js';
import { MCFT_VERSION } from './version.js';

/** The `mcft` program with every command. */
export function createProgram(): Command {
  const program = new Command('mcft')
    .description('microcheckpoint: micro-checkpointing fault tolerance for Node.js workloads')
    .version(MCFT_VERSION)
    .addHelpText(
      'after',
      `
Examples:
  $ mcft demo                      # the whole idea in under a minute, on this machine
  $ mcft demo --fault stop --json  # hang the primary instead of killing it; summary as JSON
  $ mcft certs --out certs --ip 10.0.0.1,10.0.0.2,10.0.0.3      # a test CA and node certificates
  $ mcft secondary --listen 10.0.0.2:7000 --arbiter witness --witness 10.0.0.3:7100 \\
      --ca certs/ca.pem --cert certs/secondary.pem --key certs/secondary.key
  $ mcft primary --secondary 10.0.0.2:7000 --arbiter witness --witness 10.0.0.3:7100 \\
      --ca certs/ca.pem --cert certs/primary.pem --key certs/primary.key
  $ mcft status 10.0.0.1:9464 --ca certs/ca.pem --cert certs/primary.pem --key certs/primary.key
  $ mcft <command> --help`,
    );
  for (const command of [
    demoCommand(),
    nodeCommand('primary'),
    nodeCommand('secondary'),
    witnessCommand(),
    statusCommand(),
    certsCommand(),
    benchCommand(),
  ]) {
    program.addCommand(command);
  }
  // Started by the demo only; not for people.
  program.addCommand(demoClientsCommand(), { hidden: true });
  // Usage errors exit 2 like every other CLI error, and never call process.exit from inside commander.
  const configure = (command: Command) => {
    command.exitOverride();
    command.showHelpAfterError('(add --help for usage and examples)');
    for (const sub of command.commands) configure(sub);
  };
  configure(program);
  return program;
}

/**
 * Runs the program on `argv` and returns the exit code: 0, or 2 for every usage, configuration and
 * environment error (typed `MC_ERR_CLI_*` errors print their code and message; other errors print
 * their stack and give 1).
 */
export async function runCli(argv: readonly string[]): Promise<number> {
  const program = createProgram();
  try {
    await program.parseAsync([...argv], { from: 'user' });
    // A command may end with a code of its own (the demo: 1 on a failing verdict).
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are "errors" to commander; their text is already printed.
      return error.exitCode === 0 ? 0 : CLI_ERROR_EXIT_CODE;
    }
    const code = (error as { code?: unknown })?.code;
    if (!(error instanceof CliError) && typeof code === 'string' && code.startsWith('MC_ERR_')) {
      // A typed error of another package (a report option, an engine option): a usage problem too.
      process.stderr.write(`mcft: ${code}: ${(error as Error).message}\n`);
      return CLI_ERROR_EXIT_CODE;
    }
    if (error instanceof CliError) {
      process.stderr.write(`mcft: ${error.code}: ${error.message}\n`);
      const cause = error.cause instanceof Error ? error.cause : null;
      if (cause !== null && process.env.MCFT_DEBUG) process.stderr.write(`${cause.stack}\n`);
      else if (cause !== null) process.stderr.write(`  cause: ${cause.message}\n`);
      return error.exitCode;
    }
    process.stderr.write(`mcft: ${(error as Error)?.stack ?? String(error)}\n`);
    return 1;
  }
}
