import { readFileSync } from 'node:fs';
import { ConfigFileError } from '../errors.js';

/** Keys a `--config` file may hold: the node flags in camelCase (`arbiterDir` for `--arbiter-dir`). */
export const CONFIG_KEYS = [
  'listen',
  'secondary',
  'service',
  'metrics',
  'heartbeat',
  'arbiter',
  'arbiterDir',
  'witness',
  'etcd',
  'etcdPrefix',
  'memoryMib',
  'slots',
  'epochMs',
  'detectMultiplier',
  'hangTimeoutMs',
  'attachTimeoutMs',
  'generation',
  'nodeId',
  'transport',
  'ca',
  'cert',
  'key',
  'pskFile',
  'pskIdentity',
  'insecurePlain',
  'metricsPublic',
] as const;

/** Keys that are switches: `true` or `false` in the file. */
const SWITCH_KEYS: readonly string[] = ['insecurePlain', 'metricsPublic'];

export type ConfigKey = (typeof CONFIG_KEYS)[number];
export type NodeConfig = Partial<Record<ConfigKey, string | number | boolean>>;

/** Reads a JSON config file: one object whose keys are node flags in camelCase. */
export function readConfigFile(path: string): NodeConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigFileError(path, 'cannot be read', { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigFileError(path, `is not JSON (${(error as Error).message})`, { cause: error });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new ConfigFileError(path, 'must hold one JSON object');
  const config: NodeConfig = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (!(CONFIG_KEYS as readonly string[]).includes(key))
      throw new ConfigFileError(
        path,
        `unknown key ${JSON.stringify(key)} (allowed: ${CONFIG_KEYS.join(', ')})`,
      );
    if (SWITCH_KEYS.includes(key)) {
      if (typeof value !== 'boolean') throw new ConfigFileError(path, `key ${key} must be true or false`);
    } else if (typeof value !== 'string' && typeof value !== 'number')
      throw new ConfigFileError(path, `key ${key} must be a string or a number`);
    config[key as ConfigKey] = value;
  }
  return config;
}
