import { spawn } from 'node:child_process';
import { BenchRunError } from './errors.js';

export interface RunSuitesOptions {
  /** The checkout root (see {@link findCheckoutRoot}). */
  root: string;
  quick: boolean;
  /** Suite names; empty runs every suite. */
  suites: readonly string[];
}

/**
 * Runs `npm run bench -- [--quick] [suite ...]` in the checkout, with the runner's output on this
 * process's terminal. The runner builds the packages first and writes `bench/results/<suite>.json`.
 * A Ctrl-C reaches the runner through the shared process group, so it is not forwarded again here.
 *
 * @throws {@link BenchRunError} when npm cannot start or the run fails
 */
export function runBenchSuites(options: RunSuitesOptions): Promise<void> {
  const args = ['run', 'bench', '--', ...(options.quick ? ['--quick'] : []), ...options.suites];
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  return new Promise((resolvePromise, reject) => {
    const child = spawn(npm, args, { cwd: options.root, stdio: 'inherit' });
    child.once('error', (error) => {
      reject(
        new BenchRunError(`cannot start \`${npm} ${args.join(' ')}\`: ${error.message}`, null, null, error),
      );
    });
    child.once('exit', (code, signal) => {
      if (code === 0) resolvePromise();
      else {
        const how = signal === null ? `exit status ${code}` : `signal ${signal}`;
        reject(
          new BenchRunError(
            `\`${npm} ${args.join(' ')}\` in ${options.root} failed with ${how}`,
            code,
            signal,
          ),
        );
      }
    });
  });
}
