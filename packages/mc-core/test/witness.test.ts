import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer } from '@microcheckpoint/transport-tcp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ArbiterGrant, grantIsValid } from '../src/arbiter/contract.js';
import { createWitnessArbiter, type WitnessArbiter } from '../src/arbiter/witness.js';
import { decodeReply, encodeReply, encodeRequest, WITNESS_MESSAGE } from '../src/arbiter/witness-protocol.js';
import { createWitnessServer, type WitnessDecision } from '../src/arbiter/witness-server.js';
import { WitnessProtocolError, WitnessUnavailableError } from '../src/errors.js';
import { spawnWitness, type WitnessProcess, WitnessStartError } from './witness-process.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mc-witness-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

function client(port: number, requestTimeoutMs = 500): WitnessArbiter {
  const arbiter = createWitnessArbiter({ port, requestTimeoutMs, driftMarginMs: 20 });
  cleanup.push(() => arbiter.close());
  return arbiter;
}

async function witnessProcess(options: { port?: number; stateFile?: string } = {}): Promise<WitnessProcess> {
  const witness = await spawnWitness(options);
  cleanup.push(() => witness.stop());
  return witness;
}

async function expectUnavailable(call: Promise<unknown>, maxMs: number): Promise<void> {
  const started = performance.now();
  const error = await call.then(
    (value) => new Error(`resolved with ${JSON.stringify(value)} instead of failing`),
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(WitnessUnavailableError);
  expect(error).toMatchObject({ code: 'MC_ERR_ARBITER_UNAVAILABLE' });
  expect(performance.now() - started).toBeLessThan(maxMs);
}

describe('witness arbiter with the witness in its own process', () => {
  it('reports the owner, and measures validity from before the request', async () => {
    const witness = await witnessProcess();
    const a = client(witness.port);
    expect(await a.status()).toEqual({ highest: null, lastToken: 0, owner: null });
    const before = performance.now();
    const grant = (await a.acquire({ generation: 4, node: 'a', ttlMs: 2000 }))!;
    const after = performance.now();
    expect(grant.validUntilMs).toBeGreaterThanOrEqual(before + 2000 - 20);
    expect(grant.validUntilMs).toBeLessThanOrEqual(after + 2000 - 20);
    const status = await a.status();
    expect(status).toMatchObject({
      highest: { generation: 4, node: 'a' },
      lastToken: grant.token,
      owner: { generation: 4, node: 'a', token: grant.token },
    });
    expect(status.owner!.remainingMs).toBeGreaterThan(0);
    expect(status.owner!.remainingMs).toBeLessThanOrEqual(2000);
    // The same node may take its generation again (a restarted process): a new, higher token.
    const again = (await a.acquire({ generation: 4, node: 'a', ttlMs: 2000 }))!;
    expect(again.token).toBeGreaterThan(grant.token);
    expect(await a.renew(grant, 2000)).toBeNull();
    expect(await a.renew(again, 2000)).toMatchObject({ token: again.token });
  });

  it('fails fast with a typed error and no grant while the witness is down, then works again', async () => {
    const witness = await spawnWitness();
    const a = client(witness.port);
    const b = client(witness.port);
    const grant = (await a.acquire({ generation: 1, node: 'a', ttlMs: 400 }))!;
    await witness.stop('SIGKILL');
    // Fast means well within the request timeout's order of magnitude, not a performance figure.
    await expectUnavailable(a.renew(grant, 400), 3000);
    await expectUnavailable(b.acquire({ generation: 2, node: 'b', ttlMs: 400 }), 3000);
    await expectUnavailable(a.release(grant), 3000);
    // Unable to renew, a's own clock runs its grant out.
    await sleep(Math.max(0, grant.validUntilMs - performance.now()) + 5);
    expect(grantIsValid(grant)).toBe(false);

    // A fresh witness on the same port (no state file: it remembers nothing) serves again.
    const restarted = await witnessProcess({ port: witness.port });
    expect(restarted.port).toBe(witness.port);
    expect(await b.acquire({ generation: 2, node: 'b', ttlMs: 400 })).not.toBeNull();
  });

  it('times out at the deadline while the witness is frozen (SIGSTOP), and answers after SIGCONT', async () => {
    const witness = await witnessProcess();
    const a = client(witness.port, 300);
    const b = client(witness.port, 300);
    const grant = (await a.acquire({ generation: 1, node: 'a', ttlMs: 5000 }))!;
    witness.pause();
    try {
      const started = performance.now();
      await expectUnavailable(a.renew(grant, 5000), 3000);
      expect(performance.now() - started).toBeGreaterThanOrEqual(290);
      await expectUnavailable(b.acquire({ generation: 2, node: 'b', ttlMs: 5000 }), 3000);
    } finally {
      witness.resume();
    }
    // The timed-out requests may still reach the witness after the thaw; b's is refused (a holds a
    // live grant) and a's renew only extended it. Both clients reconnect on their next request.
    expect(await a.renew(grant, 5000)).toMatchObject({ token: grant.token });
    expect(await b.acquire({ generation: 2, node: 'b', ttlMs: 5000 })).toBeNull();
  });

  it('keeps tokens, generations and the owner across a restart with a state file', async () => {
    const stateFile = join(dir, 'restart.json');
    const first = await spawnWitness({ stateFile });
    const a = client(first.port);
    const b = client(first.port);
    // Long enough for the round trips below to fit in it on a loaded host; b waits it out once.
    const TTL_MS = 3000;
    const tokens: number[] = [];
    for (let generation = 1; generation <= 3; generation++) {
      const g = (await a.acquire({ generation, node: 'a', ttlMs: TTL_MS }))!;
      tokens.push(g.token);
      if (generation < 3) await a.release(g);
    }
    const held = (await a.renew(
      { generation: 3, node: 'a', token: tokens[2]!, validUntilMs: 0 },
      TTL_MS,
    )) as ArbiterGrant;
    expect(held).not.toBeNull();
    await first.stop('SIGKILL');
    // No temporary file left behind: every write completed with its rename.
    expect(readdirSync(dir).filter((f) => f.startsWith('restart.json'))).toEqual(['restart.json']);

    const second = await witnessProcess({ port: first.port, stateFile });
    const restartedAt = performance.now();
    expect((await b.status()).highest).toEqual({ generation: 3, node: 'a' });
    // The witness cannot know how much of a's grant was left: it keeps the owner for a whole TTL.
    expect(await b.acquire({ generation: 4, node: 'b', ttlMs: TTL_MS })).toBeNull();
    expect(await b.acquire({ generation: 2, node: 'b', ttlMs: TTL_MS })).toBeNull();
    // a's grant survived the restart (the witness remembers it): a renews it.
    const renewed = await a.renew(held, TTL_MS);
    expect(renewed).toMatchObject({ token: held.token });
    let next: ArbiterGrant | null = null;
    // The renewed grant's TTL, plus a hang guard.
    while (next === null && performance.now() - restartedAt < TTL_MS + 10_000) {
      next = await b.acquire({ generation: 4, node: 'b', ttlMs: TTL_MS });
      if (next === null) await sleep(20);
    }
    expect(next).not.toBeNull();
    expect(grantIsValid(renewed)).toBe(false);
    expect(next!.token).toBeGreaterThan(Math.max(...tokens));
    expect(second.port).toBe(first.port);
  });

  it('refuses to start on a corrupted state file, and leaves the file as it was', async () => {
    const stateFile = join(dir, 'corrupt.json');
    const witness = await spawnWitness({ stateFile });
    const a = client(witness.port);
    await a.acquire({ generation: 1, node: 'a', ttlMs: 1000 });
    await witness.stop('SIGTERM');
    const good = readFileSync(stateFile, 'utf8');
    // One flipped digit: still JSON, but the checksum catches it.
    const corrupted = good.replace('"lastToken":1', '"lastToken":7');
    expect(corrupted).not.toBe(good);
    writeFileSync(stateFile, corrupted);
    await expect(spawnWitness({ stateFile })).rejects.toMatchObject({ code: 'MC_ERR_WITNESS_STATE' });
    writeFileSync(stateFile, good.slice(0, good.length / 2));
    const error = await spawnWitness({ stateFile }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(WitnessStartError);
    expect(error).toMatchObject({ code: 'MC_ERR_WITNESS_STATE' });
    expect(readFileSync(stateFile, 'utf8')).toBe(good.slice(0, good.length / 2));
  });
});

describe('witness server against malformed input', () => {
  it('answers garbage with a protocol error, drops that connection, and keeps serving everyone else', async () => {
    const server = createWitnessServer();
    const decisions: WitnessDecision[] = [];
    const peerErrors: Error[] = [];
    server.on('decision', (d) => decisions.push(d));
    server.on('peerError', (e) => peerErrors.push(e));
    const { port } = await server.listen();
    cleanup.push(() => server.close());
    const honest = client(port);
    const grant = (await honest.acquire({ generation: 1, node: 'a', ttlMs: 5000 }))!;

    // A request truncated by one byte.
    const raw = await connect({ port });
    const frame = encodeRequest({ kind: 'acquire', id: 9, generation: 2, node: 'evil', ttlMs: 5000 });
    const replies: Array<{ type: number; payload: Uint8Array }> = [];
    raw.on('message', (m) => replies.push({ type: m.type, payload: m.payload }));
    const closed = new Promise<void>((resolve) => raw.on('close', () => resolve()));
    raw.send(frame.type, frame.payload.subarray(0, frame.payload.byteLength - 1));
    await closed;
    expect(replies).toHaveLength(1);
    expect(decodeReply(replies[0]!.type, replies[0]!.payload)).toMatchObject({
      kind: 'error',
      id: 9,
      fault: 'protocol',
    });
    expect(peerErrors[0]).toBeInstanceOf(WitnessProtocolError);

    // An unknown type, and an oversized frame (refused by the transport from its header).
    for (const [type, payload] of [
      [200, new Uint8Array(8)],
      [WITNESS_MESSAGE.acquire, new Uint8Array(5000)],
    ] as const) {
      const peer = await connect({ port });
      const gone = new Promise<void>((resolve) => peer.on('close', () => resolve()));
      peer.on('message', () => {});
      peer.send(type, payload);
      await gone;
    }

    // Nothing the garbage asked for happened; the honest client still holds its grant.
    expect(decisions.map((d) => d.outcome)).toEqual(['granted']);
    expect(server.status().owner).toMatchObject({ generation: 1, node: 'a', token: grant.token });
    expect(await honest.renew(grant, 5000)).toMatchObject({ token: grant.token });
  });

  it('makes the client reject a malformed or mismatched reply with a typed error', async () => {
    // A peer that answers every request with a frame that is not a witness reply.
    const liar = createServer();
    liar.on('channel', (channel) =>
      channel.on('message', (m) => {
        const id = new DataView(m.payload.buffer, m.payload.byteOffset).getUint32(0, true);
        if (m.type === WITNESS_MESSAGE.status) {
          channel.send(WITNESS_MESSAGE.granted, new Uint8Array([1, 2, 3]));
        } else {
          // A well-formed reply of the wrong kind for the request.
          const wrong = encodeReply({ kind: 'released', id });
          channel.send(wrong.type, wrong.payload);
        }
      }),
    );
    const { port } = await liar.listen();
    cleanup.push(() => liar.close());
    const a = client(port);
    await expect(a.status()).rejects.toMatchObject({ code: 'MC_ERR_WITNESS_PROTOCOL' });
    await expect(a.acquire({ generation: 1, node: 'a', ttlMs: 1000 })).rejects.toBeInstanceOf(
      WitnessProtocolError,
    );
  });

  it('refuses a grant it cannot persist, without changing its state', async () => {
    const stateDir = mkdtempSync(join(dir, 'persist-'));
    const stateFile = join(stateDir, 'state.json');
    const server = createWitnessServer({ stateFile });
    const { port } = await server.listen();
    cleanup.push(() => server.close());
    const a = client(port);
    const first = (await a.acquire({ generation: 1, node: 'a', ttlMs: 1000 }))!;
    await a.release(first);
    rmSync(stateDir, { recursive: true });
    await expect(a.acquire({ generation: 2, node: 'b', ttlMs: 1000 })).rejects.toMatchObject({
      code: 'MC_ERR_WITNESS_STATE',
    });
    expect(server.status()).toEqual({
      highest: { generation: 1, node: 'a' },
      lastToken: first.token,
      owner: null,
    });
    // Once the directory is back, the witness grants again, with the very next token.
    mkdirSync(stateDir);
    const second = (await a.acquire({ generation: 2, node: 'b', ttlMs: 1000 }))!;
    expect(second.token).toBe(first.token + 1);
    expect(JSON.parse(readFileSync(stateFile, 'utf8')).state).toMatchObject({ lastToken: second.token });
  });

  it('validates its options', () => {
    expect(() => createWitnessArbiter({ port: 0 })).toThrow(
      expect.objectContaining({ code: 'MC_ERR_INVALID_OPTION' }),
    );
    expect(() => createWitnessArbiter({ port: 1, requestTimeoutMs: 0 })).toThrow(/requestTimeoutMs/);
    expect(() => createWitnessArbiter({ port: 1, driftMarginMs: -1 })).toThrow(/driftMarginMs/);
    expect(() => createWitnessArbiter({ port: 1, host: '' })).toThrow(/host/);
    expect(() => createWitnessServer({ port: 70000 })).toThrow(/port/);
    expect(() => createWitnessServer({ stateFile: '' })).toThrow(/stateFile/);
  });

  it('rejects every call after close', async () => {
    const server = createWitnessServer();
    const { port } = await server.listen();
    cleanup.push(() => server.close());
    const a = createWitnessArbiter({ port });
    const grant = (await a.acquire({ generation: 1, node: 'a', ttlMs: 1000 }))!;
    await a.close();
    await expect(a.renew(grant, 1000)).rejects.toMatchObject({ code: 'MC_ERR_ARBITER_CLOSED' });
    await expect(a.acquire({ generation: 2, node: 'a', ttlMs: 1000 })).rejects.toMatchObject({
      code: 'MC_ERR_ARBITER_CLOSED',
    });
  });
});
