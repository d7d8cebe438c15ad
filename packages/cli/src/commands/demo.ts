import { Command, Option } from 'commander';
import {
  DEFAULT_DEMO_CLIENTS,
  DEFAULT_DEMO_DURATION_S,
  DEFAULT_DEMO_EPOCH_MS,
  DEFAULT_DEMO_MEMORY_MIB,
  DEFAULT_DEMO_MIX,
  DEMO_KEYS_PER_CLIENT,
  DEMO_PLAIN_LINE_MS,
  DEMO_REQUEST_TIMEOUT_MS,
} from '../constants.js';
import { DemoLoad } from '../demo/load.js';
import { parseMix } from '../demo/mix.js';
import { type DemoOptions, DemoResources, runDemo } from '../demo/run-demo.js';
import { DEMO_FAULTS, type DemoSummary, formatSummary } from '../demo/summary.js';
import { type DemoView, plainView, silentView, terminalView } from '../demo/view.js';
import { BadFlagError, FaultUnavailableError } from '../errors.js';
import { parseChoice, parseHostPort, parseInteger } from '../flags.js';
import { netnsUnavailableReason } from '../netns.js';

/** Transports the demo knows of. */
export const DEMO_TRANSPORTS = ['tcp', 'rdma-sim'] as const;

interface DemoFlags {
  duration: string;
  epochMs: string;
  memoryMib: string;
  mix: string;
  fault: string;
  transport: string;
  clients: string;
  pipeline: string;
  json?: boolean;
  insecurePlain?: boolean;
}

/** Checks the demo's flags. */
export function resolveDemoOptions(flags: DemoFlags): DemoOptions {
  const transport = parseChoice('--transport', flags.transport, DEMO_TRANSPORTS);
  const fault = parseChoice('--fault', flags.fault, DEMO_FAULTS);
  if (fault === 'partition') {
    const reason = netnsUnavailableReason();
    if (reason !== null) throw new FaultUnavailableError('partition', reason);
  }
  const durationS = parseInteger('--duration', flags.duration, 3, 3600);
  return {
    durationS,
    epochMs: parseInteger('--epoch-ms', flags.epochMs, 1, 10_000),
    memoryMib: parseInteger('--memory-mib', flags.memoryMib, 4, 4096),
    mix: parseMix(flags.mix),
    fault,
    transport,
    connections: parseInteger('--clients', flags.clients, 1, 256),
    pipeline: parseInteger('--pipeline', flags.pipeline, 1, 1024),
    security: flags.insecurePlain === true ? 'plain' : 'tls',
  };
}

/** `mcft demo`. */
export function demoCommand(): Command {
  return new Command('demo')
    .description(
      'start a secondary, a primary protecting the KV sample service and concurrent clients on this machine; kill the primary; show the takeover; check that no acknowledged write was lost',
    )
    .option(
      '--duration <s>',
      'seconds of client load (the fault comes at 40%)',
      String(DEFAULT_DEMO_DURATION_S),
    )
    .option('--epoch-ms <ms>', 'epoch length of the primary', String(DEFAULT_DEMO_EPOCH_MS))
    .option('--memory-mib <n>', 'guest memory of the KV service, MiB', String(DEFAULT_DEMO_MEMORY_MIB))
    .option('--mix <mix>', 'workload: percent of SET, GET and INCR', DEFAULT_DEMO_MIX)
    .addOption(
      new Option(
        '--fault <fault>',
        'what happens to the primary: SIGKILL, SIGSTOP (hang), a network partition (root), or nothing',
      )
        .choices(DEMO_FAULTS)
        .default('kill'),
    )
    .addOption(
      new Option(
        '--transport <transport>',
        'checkpoint transport: TCP frames, or one-sided writes over simulated RDMA NICs',
      )
        .choices(DEMO_TRANSPORTS)
        .default('tcp'),
    )
    .option('--clients <n>', 'concurrent client connections', String(DEFAULT_DEMO_CLIENTS))
    .option('--pipeline <n>', 'commands each connection sends per round trip', '32')
    .option(
      '--insecure-plain',
      'plain TCP between the processes instead of TLS 1.3 with a throwaway CA (to compare the cost)',
    )
    .option('--json', 'print only the summary, as JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ npx mcft demo                             # 20 s, SIGKILL of the primary at 8 s
  $ mcft demo --fault stop                    # a hung primary: SIGSTOP, takeover, then SIGCONT (it finds itself deposed)
  $ sudo mcft demo --fault partition          # two network namespaces, iptables DROP between them
  $ mcft demo --transport rdma-sim            # checkpoints as one-sided RDMA writes (simulated NICs)
  $ mcft demo --insecure-plain                # plain TCP instead of TLS 1.3 with a throwaway CA
  $ mcft demo --duration 10 --epoch-ms 5 --mix set=80,incr=20 --json | jq .failover

Exit code: 0 on a passing verdict, 1 on a failing one, 2 on a bad flag or an environment problem.`,
    )
    .action(async (flags: DemoFlags) => {
      const options = resolveDemoOptions(flags);
      const json = flags.json === true;
      const view: DemoView = json
        ? silentView
        : process.stdout.isTTY
          ? terminalView(process.stdout)
          : plainView(process.stdout, DEMO_PLAIN_LINE_MS);
      const resources = new DemoResources();
      // Ctrl-C: everything the demo started goes, then the demo exits 130 as a shell expects.
      const interrupt = (signal: NodeJS.Signals) => {
        view.stop();
        process.stderr.write(`\nmcft demo: ${signal}: stopping every process the demo started...\n`);
        void resources.release().then(() => {
          process.stderr.write('mcft demo: nothing left behind\n');
          process.exit(signal === 'SIGINT' ? 130 : 143);
        });
      };
      process.once('SIGINT', interrupt);
      process.once('SIGTERM', interrupt);
      let summary: DemoSummary;
      try {
        view.log(
          `mcft demo: ${options.durationS} s of load, ${options.epochMs} ms epochs, ${options.memoryMib} MiB guest, fault: ${options.fault}, channels: ${options.security === 'tls' ? 'TLS 1.3' : 'plain TCP'}`,
        );
        summary = await runDemo(options, view, resources);
      } finally {
        view.stop();
        await resources.release();
        process.off('SIGINT', interrupt);
        process.off('SIGTERM', interrupt);
      }
      if (json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
      else process.stdout.write(`\n${formatSummary(summary)}\n`);
      if (summary.verdict !== 'pass') process.exitCode = 1;
    });
}

interface ClientFlags {
  targets?: string;
  connections: string;
  pipeline: string;
  mix: string;
  keys: string;
}

/**
 * The demo's client load as a process of its own (hidden): JSON lines with its counters every 250
 * ms; on stdin `finish HOST:PORT` it stops, compares its ledger with that survivor and prints the result.
 */
export function demoClientsCommand(): Command {
  return new Command('demo-clients')
    .description('the client load of mcft demo (started by it)')
    .option('--targets <list>', 'HOST:PORT,HOST:PORT: the primary, then the secondary')
    .option('--connections <n>', 'connections', String(DEFAULT_DEMO_CLIENTS))
    .option('--pipeline <n>', 'commands per round trip', '32')
    .option('--mix <mix>', 'workload mix', DEFAULT_DEMO_MIX)
    .option('--keys <n>', 'keys per connection', String(DEMO_KEYS_PER_CLIENT))
    .action(async (flags: ClientFlags) => {
      if (flags.targets === undefined) throw new BadFlagError('--targets', 'is required');
      const targets = flags.targets.split(',').map((t) => parseHostPort('--targets', t));
      const load = new DemoLoad({
        targets,
        connections: parseInteger('--connections', flags.connections, 1, 1024),
        pipeline: parseInteger('--pipeline', flags.pipeline, 1, 4096),
        keysPerClient: parseInteger('--keys', flags.keys, 1, 1 << 20),
        mix: parseMix(flags.mix),
        requestTimeoutMs: DEMO_REQUEST_TIMEOUT_MS,
      });
      const print = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
      load.start();
      const ticker = setInterval(() => print({ type: 'load', stats: load.stats }), 250);
      const survivor = await new Promise<string | null>((resolve) => {
        let buffer = '';
        process.stdin.setEncoding('utf8');
        process.stdin.on('data', (chunk: string) => {
          buffer += chunk;
          const match = /finish (\S+)\n/.exec(buffer);
          if (match !== null) resolve(match[1]!);
        });
        // The demo is gone: stop without checking.
        process.stdin.on('end', () => resolve(null));
        process.stdin.on('error', () => resolve(null));
      });
      await load.stop();
      clearInterval(ticker);
      if (survivor !== null) {
        const check = await load.check(parseHostPort('finish', survivor));
        print({ type: 'result', check, stats: load.stats, atMs: Date.now() });
      }
      process.stdin.destroy();
    });
}
