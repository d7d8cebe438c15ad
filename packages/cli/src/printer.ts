/** Where a long-running command reports what happens: human lines, or one JSON object per line. */
export interface Printer {
  readonly json: boolean;
  /** One event: `fields` as a JSON line (`{"type": ..., ...fields}`), or `text` for a person (null: nothing). */
  event(type: string, fields: Record<string, unknown>, text: string | null): void;
}

/** A printer on stdout. */
export function createPrinter(json: boolean): Printer {
  return {
    json,
    event(type, fields, text) {
      if (json) process.stdout.write(`${JSON.stringify({ type, ...fields })}\n`);
      else if (text !== null) process.stdout.write(`${new Date().toISOString().slice(11, 23)} ${text}\n`);
    },
  };
}
