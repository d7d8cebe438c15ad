import { BadFlagError } from '../errors.js';

/** Share of each command in the demo's workload, percent (sums to 100). */
export interface WorkloadMix {
  set: number;
  get: number;
  incr: number;
}

/** Parses `set=50,get=30,incr=20` (any subset; the shares must sum to 100 and include a write). */
export function parseMix(value: unknown): WorkloadMix {
  const flag = '--mix';
  if (typeof value !== 'string' || value === '') throw new BadFlagError(flag, 'expects set=N,get=N,incr=N');
  const mix: WorkloadMix = { set: 0, get: 0, incr: 0 };
  for (const part of value.split(',')) {
    const match = /^\s*(set|get|incr)\s*=\s*(\d{1,3})\s*$/i.exec(part);
    if (match === null)
      throw new BadFlagError(flag, `expects set=N,get=N,incr=N, got ${JSON.stringify(part)}`);
    mix[match[1]!.toLowerCase() as keyof WorkloadMix] = Number(match[2]);
  }
  const total = mix.set + mix.get + mix.incr;
  if (total !== 100) throw new BadFlagError(flag, `shares must sum to 100, got ${total}`);
  if (mix.set + mix.incr === 0)
    throw new BadFlagError(flag, 'needs some set or incr: a read-only load checks nothing');
  return mix;
}

/** Formats a mix the way `parseMix` reads it. */
export function formatMix(mix: WorkloadMix): string {
  return `set=${mix.set},get=${mix.get},incr=${mix.incr}`;
}
