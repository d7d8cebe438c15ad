import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolveCertsOptions, writeCertificates } from '../src/commands/certs.js';
import { CliError } from '../src/errors.js';
import { isLoopbackHost } from '../src/security/loopback.js';
import { resolveSecurity } from '../src/security/node-security.js';
import { cleanupsAfterEach } from './cleanups.js';
import { runMcft } from './mcft-process.js';

const { tempDir } = cleanupsAfterEach('mcft-certs-');

describe('mcft certs', () => {
  it('writes a CA and node certificates that verify with crypto.X509Certificate, keys 0600', async () => {
    const out = join(tempDir(), 'certs');
    const run = await runMcft([
      'certs',
      '--out',
      out,
      '--nodes',
      'alpha,beta,gamma',
      '--ip',
      '10.200.1.1,10.200.1.2',
      '--dns',
      'node.example',
      '--days',
      '30',
      '--psk',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('--ca');
    expect(readdirSync(out).sort()).toEqual(
      [
        'alpha.key',
        'alpha.pem',
        'beta.key',
        'beta.pem',
        'ca.key',
        'ca.pem',
        'gamma.key',
        'gamma.pem',
        'psk.key',
      ].sort(),
    );
    const ca = new X509Certificate(readFileSync(join(out, 'ca.pem')));
    expect(ca.ca).toBe(true);
    expect(ca.checkPrivateKey(createPrivateKeyFrom(join(out, 'ca.key')))).toBe(true);
    for (const node of ['alpha', 'beta', 'gamma']) {
      const cert = new X509Certificate(readFileSync(join(out, `${node}.pem`)));
      expect(cert.ca).toBe(false);
      expect(cert.verify(ca.publicKey)).toBe(true);
      expect(cert.checkIssued(ca)).toBe(true);
      expect(cert.checkPrivateKey(createPrivateKeyFrom(join(out, `${node}.key`)))).toBe(true);
      expect(cert.subject).toContain(`CN=${node}`);
      for (const ip of ['127.0.0.1', '10.200.1.1', '10.200.1.2']) expect(cert.checkIP(ip)).toBe(ip);
      expect(cert.checkIP('10.200.1.3')).toBeUndefined();
      expect(cert.checkHost('node.example')).toBe('node.example');
      expect(cert.checkHost(node)).toBe(node);
      const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000;
      expect(Math.round(days)).toBe(30);
      expect(statSync(join(out, `${node}.key`)).mode & 0o777).toBe(0o600);
    }
    expect(statSync(join(out, 'ca.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(out, 'psk.key')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(out, 'psk.key'), 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    // Certificates from another run are from another CA: they do not verify against this one.
    const other = join(tempDir(), 'other');
    expect((await runMcft(['certs', '--out', other, '--nodes', 'alpha'])).code).toBe(0);
    const foreign = new X509Certificate(readFileSync(join(other, 'alpha.pem')));
    expect(foreign.verify(ca.publicKey)).toBe(false);
  });

  it('refuses to overwrite any existing file, writing nothing, unless --force', async () => {
    const out = tempDir();
    writeFileSync(join(out, 'beta.key'), 'precious\n');
    const run = await runMcft(['certs', '--out', out, '--nodes', 'alpha,beta']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('MC_ERR_CLI_FILE_EXISTS');
    expect(run.stderr).toContain(join(out, 'beta.key'));
    expect(run.stderr).toContain('--force');
    // Nothing was written: not even the files that did not exist.
    expect(readdirSync(out)).toEqual(['beta.key']);
    expect(readFileSync(join(out, 'beta.key'), 'utf8')).toBe('precious\n');

    const forced = await runMcft(['certs', '--out', out, '--nodes', 'alpha,beta', '--force', '--json']);
    expect(forced.code, forced.stderr).toBe(0);
    const report = JSON.parse(forced.stdout) as { files: Array<{ path: string; secret: boolean }> };
    expect(report.files.map((f) => f.path)).toContain(join(out, 'beta.key'));
    expect(readFileSync(join(out, 'beta.key'), 'utf8')).toContain('BEGIN PRIVATE KEY');
    expect(statSync(join(out, 'beta.key')).mode & 0o777).toBe(0o600);
  });

  it('--expired issues certificates whose validity ended', () => {
    const out = tempDir();
    writeCertificates(resolveCertsOptions({ out, nodes: 'old', expired: true }));
    const cert = new X509Certificate(readFileSync(join(out, 'old.pem')));
    expect(Date.parse(cert.validTo)).toBeLessThan(Date.now());
    // The CA itself stays valid, so the expiry is the only thing wrong.
    expect(Date.parse(new X509Certificate(readFileSync(join(out, 'ca.pem'))).validTo)).toBeGreaterThan(
      Date.now(),
    );
  });

  it.each([
    [[], '--out'],
    [['--nodes', 'ca'], '--nodes'],
    [['--nodes', 'a,a'], 'twice'],
    [['--nodes', '../evil'], '--nodes'],
    [['--ip', '10.0.0.300'], '--ip'],
    [['--dns', 'bad_name'], '--dns'],
    [['--days', '0'], '--days'],
  ])('rejects %j with MC_ERR_CLI_BAD_FLAG', async (args, text) => {
    const out = tempDir();
    const run = await runMcft([
      'certs',
      ...(args[0] === undefined ? [] : ['--out', join(out, 'x')]),
      ...args,
    ]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('MC_ERR_CLI_BAD_FLAG');
    expect(run.stderr).toContain(text);
    expect(readdirSync(out)).toEqual([]);
  });
});

function createPrivateKeyFrom(path: string) {
  return createPrivateKey(readFileSync(path, 'utf8'));
}

describe('security flags (property)', () => {
  const flag = fc.option(fc.constantFrom('/nonexistent/a.pem', ''), { nil: undefined });
  it('any combination is refused with a typed CLI error or picks exactly the mode asked for', () => {
    fc.assert(
      fc.property(
        fc.record({
          ca: flag,
          cert: flag,
          key: flag,
          pskFile: flag,
          pskIdentity: fc.option(fc.string(), { nil: undefined }),
          insecurePlain: fc.option(fc.oneof(fc.boolean(), fc.string()), { nil: undefined }),
        }),
        (flags) => {
          try {
            const s = resolveSecurity('secondary', flags);
            // Only an explicit plain choice gets through with these (unreadable) files.
            expect(s.mode).toBe('plain');
            expect(flags.insecurePlain === true || flags.insecurePlain === 'true').toBe(true);
            expect(flags.ca ?? flags.cert ?? flags.key ?? flags.pskFile).toBeUndefined();
          } catch (error) {
            expect(error).toBeInstanceOf(CliError);
            expect((error as CliError).code).toMatch(/^MC_ERR_CLI_(BAD_FLAG|NO_SECURITY|CREDENTIALS)$/);
            expect((error as CliError).exitCode).toBe(2);
          }
        },
      ),
    );
  });

  it('no choice at all is MC_ERR_CLI_NO_SECURITY, naming the three ways and mcft certs', () => {
    expect(() => resolveSecurity('primary', {})).toThrow(
      /--ca FILE --cert FILE --key FILE[\s\S]*--psk-file[\s\S]*--insecure-plain[\s\S]*mcft certs/,
    );
  });

  it('loopback: every 127.x.y.z and ::1, nothing routable', () => {
    fc.assert(
      fc.property(fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255)), ([a, b, c]) => {
        expect(isLoopbackHost(`127.${a}.${b}.${c}`)).toBe(true);
      }),
    );
    fc.assert(
      fc.property(
        fc.tuple(
          fc.integer({ min: 0, max: 255 }).filter((x) => x !== 127),
          fc.nat(255),
        ),
        ([a, b]) => {
          expect(isLoopbackHost(`${a}.${b}.0.1`)).toBe(false);
        },
      ),
    );
    expect(isLoopbackHost('::1')).toBe(true);
    expect(isLoopbackHost('localhost')).toBe(true);
    expect(isLoopbackHost('0.0.0.0')).toBe(false);
    expect(isLoopbackHost('::')).toBe(false);
    expect(isLoopbackHost('fe80::1')).toBe(false);
  });
});
