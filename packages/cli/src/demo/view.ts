/** What the live display shows. */
export interface DemoProgress {
  elapsedS: number;
  durationS: number;
  phase: string;
  epochsPerSec: number;
  pauseP50Ms: number;
  pauseP99Ms: number;
  checkpointMBps: number;
  corkDepth: number;
  clientOpsPerSec: number;
}

/** Where the demo reports as it runs: one-off lines, and the live progress. */
export interface DemoView {
  log(text: string): void;
  progress(p: DemoProgress): void;
  stop(): void;
}

function line(p: DemoProgress, width: number): string {
  const cells = 20;
  const done = Math.max(0, Math.min(cells, Math.round((p.elapsedS / p.durationS) * cells)));
  const bar = `${'#'.repeat(done)}${'.'.repeat(cells - done)}`;
  const text =
    `[${bar}] ${p.elapsedS.toFixed(1).padStart(4)}/${p.durationS}s  ` +
    `epochs/s ${p.epochsPerSec.toFixed(0).padStart(3)}  ` +
    `pause p50 ${p.pauseP50Ms.toFixed(2)} p99 ${p.pauseP99Ms.toFixed(2)} ms  ` +
    `ckpt ${p.checkpointMBps.toFixed(2)} MB/s  cork ${String(p.corkDepth).padStart(4)}  ` +
    `clients ${p.clientOpsPerSec.toFixed(0).padStart(6)} ops/s  ${p.phase}`;
  return text.length > width ? text.slice(0, width - 1) : text;
}

/** A redrawn status line on a terminal; log lines scroll above it. */
export function terminalView(stream: NodeJS.WriteStream): DemoView {
  let last: DemoProgress | null = null;
  const clear = () => stream.write('\r\x1b[2K');
  const draw = () => {
    if (last !== null) stream.write(line(last, stream.columns || 160));
  };
  return {
    log(text) {
      clear();
      stream.write(`${text}\n`);
      draw();
    },
    progress(p) {
      last = p;
      clear();
      draw();
    },
    stop() {
      clear();
      last = null;
    },
  };
}

/** Plain lines for a pipe or a log file: every log line, and a progress line every `everyMs`. */
export function plainView(stream: NodeJS.WritableStream, everyMs: number): DemoView {
  let lastAt = 0;
  return {
    log(text) {
      stream.write(`${text}\n`);
    },
    progress(p) {
      const now = Date.now();
      if (now - lastAt < everyMs) return;
      lastAt = now;
      stream.write(`${line(p, 400).replace(/^\[[#.]+\] /, '')}\n`);
    },
    stop() {},
  };
}

/** Nothing (the `--json` summary is the only output). */
export const silentView: DemoView = { log() {}, progress() {}, stop() {} };
