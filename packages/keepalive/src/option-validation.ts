import { InvalidOptionError } from './errors.js';

/** Bounds of a numeric option; `above` is exclusive, `min` and `max` inclusive. */
export interface NumberBounds {
  integer?: boolean;
  min?: number;
  above?: number;
  max?: number;
}

/**
 * Returns `value`, or `fallback` when it is undefined, after checking that it is a finite number within
 * `bounds`. Throws InvalidOptionError naming the option otherwise.
 */
export function numberOption(
  name: string,
  value: unknown,
  fallback: number,
  bounds: NumberBounds = {},
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new InvalidOptionError(name, `must be a number, got ${describe(value)}`);
  }
  if (bounds.integer === true && !Number.isInteger(value)) {
    throw new InvalidOptionError(name, `must be an integer, got ${value}`);
  }
  if (!Number.isFinite(value) && bounds.max !== Number.POSITIVE_INFINITY) {
    throw new InvalidOptionError(name, `must be finite, got ${value}`);
  }
  if (bounds.min !== undefined && value < bounds.min) {
    throw new InvalidOptionError(name, `must be >= ${bounds.min}, got ${value}`);
  }
  if (bounds.above !== undefined && value <= bounds.above) {
    throw new InvalidOptionError(name, `must be > ${bounds.above}, got ${value}`);
  }
  if (bounds.max !== undefined && value > bounds.max) {
    throw new InvalidOptionError(name, `must be <= ${bounds.max}, got ${value}`);
  }
  return value;
}

/** Returns `value` (or `fallback`) after checking it is one of `allowed`. */
export function choiceOption<T extends string>(
  name: string,
  value: unknown,
  fallback: T,
  allowed: readonly T[],
): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new InvalidOptionError(name, `must be one of ${allowed.join(', ')}, got ${describe(value)}`);
  }
  return value as T;
}

/** Returns `value` (or `fallback`) after checking it is a boolean. */
export function booleanOption(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean')
    throw new InvalidOptionError(name, `must be a boolean, got ${describe(value)}`);
  return value;
}

/** A short, safe description of a value for an error message. */
export function describe(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}
