import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { createCertificateAuthority, issueCertificate } from '@microcheckpoint/transport-tcp';
import { Command } from 'commander';
import { BadFlagError, FileExistsError } from '../errors.js';
import { parseInteger } from '../flags.js';

/** Node names `mcft certs` issues certificates for when `--nodes` is not given. */
export const DEFAULT_CERT_NODES = ['primary', 'secondary', 'witness'] as const;
/** Validity of the node certificates when `--days` is not given. */
export const DEFAULT_CERT_DAYS = 365;
/** Bytes of a pre-shared key written by `--psk`. */
export const PSK_FILE_BYTES = 32;
const DAY_MS = 86_400_000;

/** Options of `writeCertificates()`, checked. */
export interface CertsOptions {
  out: string;
  nodes: string[];
  ipAddresses: string[];
  dnsNames: string[];
  days: number;
  /** Issue node certificates that expired yesterday (for testing that peers refuse them). */
  expired: boolean;
  psk: boolean;
  force: boolean;
}

/** One file written, for the report. */
export interface WrittenFile {
  path: string;
  what: string;
  secret: boolean;
}

const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const DNS_NAME =
  /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function list(value: string | undefined): string[] {
  return value === undefined
    ? []
    : value
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== '');
}

/** Checks the flags of `mcft certs`. */
export function resolveCertsOptions(flags: CertsFlags): CertsOptions {
  if (flags.out === undefined || flags.out === '')
    throw new BadFlagError('--out', 'is required: the directory to write the CA, certificates and keys to');
  const nodes = flags.nodes === undefined ? [...DEFAULT_CERT_NODES] : list(flags.nodes);
  if (nodes.length === 0) throw new BadFlagError('--nodes', 'names no node');
  for (const node of nodes) {
    if (!NODE_NAME.test(node) || node === 'ca' || node === 'psk')
      throw new BadFlagError(
        '--nodes',
        `${JSON.stringify(node)} is not a usable node name (letters, digits, . _ -; not ca or psk; it names the files)`,
      );
  }
  if (new Set(nodes).size !== nodes.length) throw new BadFlagError('--nodes', 'names a node twice');
  const ipAddresses = ['127.0.0.1', '::1', ...list(flags.ip)];
  for (const ip of ipAddresses) {
    if (isIP(ip) === 0) throw new BadFlagError('--ip', `${JSON.stringify(ip)} is not an IP address`);
  }
  const dnsNames = list(flags.dns);
  for (const name of dnsNames) {
    if (!DNS_NAME.test(name)) throw new BadFlagError('--dns', `${JSON.stringify(name)} is not a DNS name`);
  }
  return {
    out: resolve(flags.out),
    nodes,
    ipAddresses: [...new Set(ipAddresses)],
    dnsNames: ['localhost', ...dnsNames.filter((d) => d !== 'localhost')],
    days: flags.days === undefined ? DEFAULT_CERT_DAYS : parseInteger('--days', flags.days, 1, 36_500),
    expired: flags.expired === true,
    psk: flags.psk === true,
    force: flags.force === true,
  };
}

/**
 * Writes a CA (`ca.pem`, `ca.key`), one certificate and key per node (`<node>.pem`, `<node>.key`)
 * and, with `psk`, a pre-shared key (`psk.key`, hex). Keys are created with mode 0600. Refuses to
 * replace an existing file unless `force`; nothing is written then.
 */
export function writeCertificates(o: CertsOptions): WrittenFile[] {
  const planned: Array<{ name: string; what: string; secret: boolean; content: () => string }> = [];
  const ca = createCertificateAuthority({ commonName: 'mcft CA' });
  planned.push({
    name: 'ca.pem',
    what: 'CA certificate: give it to every node as --ca',
    secret: false,
    content: () => ca.certificate,
  });
  planned.push({
    name: 'ca.key',
    what: 'CA private key: only needed to issue more certificates; keep it offline',
    secret: true,
    content: () => ca.key,
  });
  const now = Date.now();
  for (const node of o.nodes) {
    const issued = issueCertificate(ca, {
      commonName: node,
      ipAddresses: o.ipAddresses,
      // The node name is a DNS name too when it can be one, so a node may be named in /etc/hosts.
      dnsNames: [...new Set([...(DNS_NAME.test(node) ? [node] : []), ...o.dnsNames])],
      ...(o.expired
        ? { notBefore: new Date(now - 3 * DAY_MS), notAfter: new Date(now - DAY_MS) }
        : { validDays: o.days }),
    });
    planned.push({
      name: `${node}.pem`,
      what: `certificate of ${node}${o.expired ? ' (EXPIRED on purpose)' : ''}: --cert`,
      secret: false,
      content: () => issued.certificate,
    });
    planned.push({
      name: `${node}.key`,
      what: `private key of ${node}: --key`,
      secret: true,
      content: () => issued.key,
    });
  }
  if (o.psk) {
    const key = randomBytes(PSK_FILE_BYTES).toString('hex');
    planned.push({
      name: 'psk.key',
      what: 'pre-shared key (hex): --psk-file on every node',
      secret: true,
      content: () => `${key}\n`,
    });
  }
  if (!o.force) {
    for (const file of planned) {
      const path = join(o.out, file.name);
      if (existsSync(path)) throw new FileExistsError(path);
    }
  }
  mkdirSync(o.out, { recursive: true });
  const written: WrittenFile[] = [];
  for (const file of planned) {
    const path = join(o.out, file.name);
    // A key is never readable by others, not even for the moment between writing and chmod.
    writeFileSync(path, file.content(), { mode: file.secret ? 0o600 : 0o644, flag: o.force ? 'w' : 'wx' });
    if (file.secret) chmodSync(path, 0o600);
    written.push({ path, what: file.what, secret: file.secret });
  }
  return written;
}

interface CertsFlags {
  out?: string;
  nodes?: string;
  ip?: string;
  dns?: string;
  days?: string;
  expired?: boolean;
  psk?: boolean;
  force?: boolean;
  json?: boolean;
}

/** `mcft certs`. */
export function certsCommand(): Command {
  return new Command('certs')
    .description(
      'write a test CA and a certificate per node (node:crypto only, no openssl needed) for mcft primary, secondary, witness and status',
    )
    .option('--out <dir>', 'directory to write to (created if missing) (required)')
    .option(
      '--nodes <names>',
      `comma-separated node names, one certificate each (default: ${DEFAULT_CERT_NODES.join(',')})`,
    )
    .option(
      '--ip <list>',
      'IP addresses the nodes are reached at, comma-separated (127.0.0.1 and ::1 are always in)',
    )
    .option(
      '--dns <list>',
      'DNS names the nodes are reached at, comma-separated (localhost and the node name are always in)',
    )
    .option(
      '--days <n>',
      `validity of the node certificates, days (default: ${DEFAULT_CERT_DAYS}; the CA: 10 years)`,
    )
    .option('--expired', 'issue node certificates that already expired (to see peers refuse them)')
    .option('--psk', `also write psk.key: ${PSK_FILE_BYTES} random bytes as hex, for --psk-file`)
    .option('--force', 'replace files that exist')
    .option('--json', 'print the files written as JSON')
    .addHelpText(
      'after',
      `
Every certificate carries every --ip and --dns (one list for the whole setup), so any node can sit
at any of them; a TLS client checks that the address it connects to is in the peer's certificate.

Examples:
  $ mcft certs --out certs                                   # ca, primary, secondary, witness on this host
  $ mcft certs --out certs --ip 10.0.0.1,10.0.0.2,10.0.0.3 --nodes primary,secondary,witness,admin
  $ mcft certs --out old --nodes primary --expired           # a certificate peers must refuse
  $ mcft certs --out keys --psk                              # ...and a pre-shared key for --psk-file`,
    )
    .action((flags: CertsFlags) => {
      const options = resolveCertsOptions(flags);
      const written = writeCertificates(options);
      if (flags.json === true) {
        process.stdout.write(`${JSON.stringify({ out: options.out, files: written }, null, 2)}\n`);
        return;
      }
      const width = Math.max(...written.map((f) => f.path.length));
      const lines = written.map((f) => `  ${f.path.padEnd(width)}  ${f.secret ? '0600 ' : '     '}${f.what}`);
      const [first, second] = options.nodes;
      const c = (name: string) => join(options.out, name);
      process.stdout.write(
        `wrote ${written.length} files (valid for: ${options.ipAddresses.join(', ')}, ${options.dnsNames.join(', ')}):
${lines.join('\n')}

Use them (each host needs ca.pem and its own .pem and .key; copy the keys over a secure channel):
  mcft secondary ... --ca ${c('ca.pem')} --cert ${c(`${second ?? first}.pem`)} --key ${c(`${second ?? first}.key`)}
  mcft primary   ... --ca ${c('ca.pem')} --cert ${c(`${first}.pem`)} --key ${c(`${first}.key`)}
  mcft status HOST:PORT --ca ${c('ca.pem')} --cert ${c(`${first}.pem`)} --key ${c(`${first}.key`)}
${options.psk ? `or, without certificates: --psk-file ${c('psk.key')} on every node\n` : ''}`,
      );
    });
}
