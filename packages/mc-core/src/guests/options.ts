import { InvalidOptionError } from '../errors.js';

/** Checks a count or duration option: a safe integer in `[min, +inf)`, or `undefined` for the default. */
export function integerOption(name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new InvalidOptionError(name, `must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

/** Checks that an options argument is an object. */
export function optionsObject<T>(options: T): T {
  if (options === null || typeof options !== 'object')
    throw new InvalidOptionError('options', 'must be an object');
  return options;
}
