import { InvalidOptionError } from './errors.js';

/** Validates an integer option within [min, max], or returns its default when it is undefined. */
export function integerOption(
  name: string,
  value: unknown,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new InvalidOptionError(name, `must be an integer, got ${String(value)}`);
  }
  if (value < min || value > max)
    throw new InvalidOptionError(name, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

/** Validates a finite number option within [min, max], or returns its default when it is undefined. */
export function numberOption(
  name: string,
  value: unknown,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new InvalidOptionError(name, `must be a finite number, got ${String(value)}`);
  }
  if (value < min || value > max)
    throw new InvalidOptionError(name, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

/** Validates a boolean option, or returns its default when it is undefined. */
export function booleanOption(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean')
    throw new InvalidOptionError(name, `must be a boolean, got ${String(value)}`);
  return value;
}

/** Validates a non-empty string option, or returns its default when it is undefined. */
export function stringOption(name: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidOptionError(name, `must be a non-empty string, got ${String(value)}`);
  }
  return value;
}

/** Validates that an options argument is an object (or undefined, meaning all defaults). */
export function optionsObject<T extends object>(name: string, value: T | undefined): Partial<T> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object') throw new InvalidOptionError(name, 'must be an object');
  return value;
}

/** True for an unsigned 32-bit integer. */
export function isUint32(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff;
}

/** True for a non-negative safe integer (addresses, lengths, work request ids). */
export function isUnsignedSafeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
