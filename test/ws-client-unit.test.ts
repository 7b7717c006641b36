// RelaySession against a fake relay that speaks just enough of docs/protocol.md §4 (no relay server
// needed): PoW + signature auth, token reuse and fallback, reconnection, acks, dedupe, relay
// correlation, and when reconnecting must stop.
import assert from 'node:assert/strict';
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import { RelayClientError } from '../src/client/errors.js';
import { generateIdentity, signMessage, type Identity } from '../src/client/identity.js';
import { loadIdentity, saveIdentity } from '../src/client/identity-file.js';
import { solvePowSync } from '../src/client/pow-solver.js';
import { RelaySession, type Frame, type RelaySessionOptions } from '../src/client/ws-client.js';
import { PADDED_SIZE, padJson } from '../src/normalize/padding.js';
import { nextEvent } from './helpers/wait.js';
import type { AnyJson } from './helpers/ws.js';

const BACKOFF = { minMs: 5, maxMs: 20 };
/** Long enough for several reconnect attempts with BACKOFF to have happened, had they been made:
 *  a deliberate wait, to prove that none is made. */
const NO_RECONNECT_WINDOW_MS = 200;

/** Padded JSON text (§6), as the relay sends it. */
const padded = (value: object): string => padJson(value).toString('utf8');

interface FakeConnection {
  ws: WebSocket;
  socket: Socket;
  /** Every JSON frame received, in order. */
  frames: AnyJson[];
  identityHash?: string;
  send(...frames: Frame[]): void;
}

/** HTTP (GET /pow/challenge) and WebSocket (/ws) on one port, like the relay. */
class FakeRelay extends EventEmitter {
  readonly connections: FakeConnection[] = [];
  readonly seeds = new Set<string>();
  readonly tokens = new Map<string, string>();
  /** Accept PoW without signature (compat v1). */
  compat = false;
  refuseTokens = false;
  aliasLimit = 50;
  /** Frames sent right after auth_success, in the same TCP write. */
  afterAuth: (conn: FakeConnection) => Frame[] = () => [];
  onRelay: (conn: FakeConnection, frame: AnyJson) => void = (conn, frame) =>
    conn.send({ type: 'delivery_status', id: frame.id, target: frame.to, status: 'delivered' });

  private constructor(
    private readonly http: Server,
    private readonly wss: WebSocketServer,
    readonly url: string,
  ) {
    super();
    http.on('request', (req, res) => {
      if (req.method !== 'GET' || !req.url?.startsWith('/pow/challenge')) {
        res.writeHead(404).end(padded({ error: 'Not found', code: 'not_found' }));
        return;
      }
      const seed = randomBytes(32).toString('hex');
      this.seeds.add(seed);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(padded({ seed, difficulty: 2, expires_in: 60 }));
    });
    wss.on('connection', (ws, req) => this.accept(ws, req.socket));
  }

  static async start(): Promise<FakeRelay> {
    const http = createServer();
    const wss = new WebSocketServer({ server: http, path: '/ws' });
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    const { port } = http.address() as AddressInfo;
    return new FakeRelay(http, wss, `http://127.0.0.1:${port}`);
  }

  async close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
    this.http.close();
    await once(this.http, 'close');
  }

  authFrames(): AnyJson[] {
    return this.connections.map((c) => c.frames.find((f) => f.type === 'auth')?.payload);
  }

  /** Ack frames received, on every connection from index `from` on. */
  acks(from = 0): AnyJson[] {
    return this.connections.slice(from).flatMap((c) => c.frames.filter((f) => f.type === 'ack'));
  }

  private accept(ws: WebSocket, socket: Socket): void {
    const conn: FakeConnection = {
      ws,
      socket,
      frames: [],
      // One TCP write, so the client reads the frames in one tick (that is what batching sees).
      send(...frames) {
        socket.cork();
        for (const frame of frames) ws.send(padded(frame));
        socket.uncork();
      },
    };
    this.connections.push(conn);
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        const buf = data as Buffer;
        this.emit('binary', conn, buf);
        const target = buf.subarray(0, 64).toString('ascii');
        conn.send({ type: 'delivery_status', target, status: 'queued' });
        return;
      }
      const frame = JSON.parse(String(data));
      conn.frames.push(frame);
      if (frame.type === 'auth') this.authenticate(conn, frame.payload);
      else if (frame.type === 'relay') this.onRelay(conn, frame);
      else if (frame.type === 'subscribe_alias') this.subscribeAlias(conn, frame.payload);
      else if (frame.type === 'ping' || frame.type === 'dummy') conn.send({ type: 'dummy_ack' });
      this.emit('frame', conn, frame);
    });
    ws.on('close', (code) => this.emit('closed', conn, code));
    this.emit('connection', conn);
  }

  private subscribeAlias(conn: FakeConnection, p: AnyJson): void {
    const aliases = conn.frames.filter((f) => f.type === 'subscribe_alias').length;
    if (!this.validPow(String(p.seed), String(p.alias), p.nonce))
      conn.send({ type: 'error', code: 'pow_invalid', message: 'Invalid proof of work' });
    else if (aliases > this.aliasLimit)
      conn.send({ type: 'error', code: 'alias_limit', message: 'Maximum alias limit reached' });
    else conn.send({ type: 'alias_subscribed', alias: p.alias });
  }

  private validPow(seed: string, context: string, nonce: unknown): boolean {
    if (!this.seeds.delete(seed)) return false;
    return createHash('sha256').update(`${seed}${context}${nonce}`).digest('hex').startsWith('00');
  }

  private authenticate(conn: FakeConnection, p: AnyJson): void {
    const h = this.verifiedIdentity(p);
    if (!h) {
      conn.send({ type: 'error', code: 'auth_failed', message: 'Authentication failed' });
      conn.ws.close(4001);
      return;
    }
    conn.identityHash = h;
    const token = randomBytes(32).toString('hex');
    this.tokens.set(token, h);
    const success = { type: 'auth_success', identity_hash: h, session_token: token };
    conn.send({ ...success, keys_missing: true, prekeys: 0 }, ...this.afterAuth(conn));
  }

  private verifiedIdentity(p: AnyJson): string | null {
    const h = String(p?.identity_hash);
    if (p?.session_token !== undefined)
      return !this.refuseTokens && this.tokens.get(p.session_token) === h ? h : null;
    const seed = String(p?.seed);
    if (!this.validPow(seed, h, p.nonce)) return null;
    if (this.compat && p.signature === undefined) return h;
    const raw = Buffer.from(String(p.public_key), 'base64');
    if (raw.length !== 32 || createHash('sha256').update(raw).digest('hex') !== h) return null;
    const key = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') },
      format: 'jwk',
    });
    const ok = verify(
      null,
      Buffer.from(`AUTH:${h}:${seed}`),
      key,
      Buffer.from(String(p.signature), 'base64'),
    );
    return ok ? h : null;
  }
}

/** Waits until the fake has received acks covering every id (on connections from `from` on). */
function ackedAll(relay: FakeRelay, ids: string[], from = 0): Promise<AnyJson[]> {
  const covered = () => {
    const acked = new Set(relay.acks(from).flatMap((a) => a.ids));
    return ids.every((id) => acked.has(id));
  };
  return covered() ? Promise.resolve([]) : nextEvent(relay, 'frame', covered);
}

async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<void> {
  const err = await promise.then(
    () => assert.fail(`expected ${code}, got success`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof RelayClientError, String(err));
  assert.equal(err.code, code, err.message);
}

describe('RelaySession (fake relay)', { timeout: 30_000 }, () => {
  let relay: FakeRelay;
  let identity: Identity;
  const sessions: RelaySession[] = [];

  function session(options: Partial<RelaySessionOptions> = {}): RelaySession {
    const s = new RelaySession({
      url: relay.url,
      identity,
      backoff: BACKOFF,
      // Worker threads take ~1 s to start under tsx; difficulty 2 is instant in-thread.
      powSolver: async (seed, context, difficulty) => solvePowSync(seed, context, difficulty),
      ...options,
    });
    sessions.push(s);
    return s;
  }

  beforeEach(async () => {
    relay = await FakeRelay.start();
    identity = generateIdentity();
  });

  afterEach(async () => {
    await Promise.all(sessions.splice(0).map((s) => s.close()));
    await relay.close();
  });

  describe('authentication', () => {
    it('authenticates by PoW and an Ed25519 signature over AUTH:<H>:<seed>', async () => {
      const s = session({ powSolver: undefined }); // the default, worker-thread solver
      const auth = await s.connect();
      assert.equal(auth.type, 'auth_success');
      assert.equal(auth.identity_hash, identity.identityHash);
      assert.ok(relay.tokens.has(auth.session_token));
      assert.equal(s.state, 'open');
      const [payload] = relay.authFrames();
      assert.equal(payload.identity_hash, identity.identityHash);
      assert.equal(payload.public_key, identity.publicKey.toString('base64'));
      assert.equal(payload.acks, true);
      assert.equal(relay.seeds.size, 0, 'the challenge seed was used');
    });

    it('sends acks: false when asked to', async () => {
      await session({ acks: false }).connect();
      assert.equal(relay.authFrames()[0].acks, false);
    });

    it('rejects with auth_failed when the key does not hash to the identity', async () => {
      const other = generateIdentity();
      identity = { ...identity, publicKey: other.publicKey };
      await rejectsWithCode(session().connect(), 'auth_failed');
    });

    it('rejects with auth_failed when the signature is not by the identity key', async () => {
      identity = { ...identity, privateKey: generateIdentity().privateKey };
      const s = session();
      await rejectsWithCode(s.connect(), 'auth_failed');
      assert.equal(s.state, 'closed');
    });

    it('legacyPowOnly sends no key or signature (accepted only by a compat relay)', async () => {
      await rejectsWithCode(session({ legacyPowOnly: true }).connect(), 'auth_failed');
      relay.compat = true;
      await session({ legacyPowOnly: true }).connect();
      for (const payload of relay.authFrames()) {
        assert.equal(payload.signature, undefined);
        assert.equal(payload.public_key, undefined);
      }
    });
  });

  describe('deliveries', () => {
    const msg = (id: string, envelope: string): Frame => ({ type: 'msg', id, envelope });
    const queued = (id: string, payload: Frame): Frame => ({ type: 'queued_message', id, payload });
    const binaryPayload = { type: 'binary_payload', data_hex: 'abcd' };

    it('emits the queue and live messages, acking them in one batch', async () => {
      relay.afterAuth = () => [
        queued('q1', msg('q1', 'first')),
        queued('q2', binaryPayload),
        msg('m1', 'live'),
      ];
      const s = session();
      const events: AnyJson[] = [];
      s.on('queued', (e) => events.push(['queued', e]));
      s.on('message', (e) => events.push(['message', e]));
      await s.connect();
      await ackedAll(relay, ['q1', 'q2', 'm1']);
      assert.deepEqual(events, [
        ['queued', { id: 'q1', payload: msg('q1', 'first') }],
        ['queued', { id: 'q2', payload: binaryPayload }],
        ['message', { id: 'm1', envelope: 'live' }],
      ]);
      assert.deepEqual(
        relay.acks().map((a) => a.ids),
        [['q1', 'q2', 'm1']],
      );
    });

    it('does not emit a redelivered id again, but acks it again', async () => {
      relay.afterAuth = () => [queued('q1', msg('q1', 'first')), msg('m1', 'live')];
      const s = session();
      const seen: string[] = [];
      s.on('queued', (e) => seen.push(e.id));
      s.on('message', (e) => seen.push(e.id));
      await s.connect();
      await ackedAll(relay, ['q1', 'm1']);
      relay.connections[0]!.send(
        queued('q1', msg('q1', 'first')),
        msg('m1', 'live'),
        msg('m2', 'new'),
      );
      await ackedAll(relay, ['m2']);
      assert.deepEqual(seen, ['q1', 'm1', 'm2']);
      assert.deepEqual(
        relay.acks().map((a) => a.ids),
        [
          ['q1', 'm1'],
          ['q1', 'm1', 'm2'],
        ],
      );
    });

    it('close() still sends the acks of what was emitted', async () => {
      relay.afterAuth = () => [msg('m1', 'live')];
      const s = session();
      let closing: Promise<void> | undefined;
      s.on('message', () => (closing = s.close()));
      const serverSide = nextEvent(relay, 'closed');
      await s.connect();
      await serverSide;
      await closing;
      assert.deepEqual(
        relay.acks().map((a) => a.ids),
        [['m1']],
      );
    });

    it('does not ack with autoAck: false; ack() sends the ids given', async () => {
      relay.afterAuth = () => [msg('m1', 'live')];
      const s = session({ autoAck: false });
      const received = nextEvent(s, 'message');
      await s.connect();
      const [{ id }] = await received;
      const ack = nextEvent(relay, 'frame', (_conn, f) => f.type === 'ack');
      s.ack([id]);
      await ack;
      assert.deepEqual(
        relay.acks().map((a) => a.ids),
        [['m1']],
      );
    });

    it('emits binary frames, sealed messages, other typed frames and relay errors', async () => {
      const s = session();
      await s.connect();
      const conn = relay.connections[0]!;
      const binary = nextEvent(s, 'binary');
      conn.ws.send(Buffer.concat([Buffer.from('hi'), Buffer.alloc(PADDED_SIZE - 2)]));
      assert.equal(((await binary)[0] as Buffer).subarray(0, 2).toString(), 'hi');
      const events = Promise.all([
        nextEvent(s, 'sealed'),
        nextEvent(s, 'frame'),
        nextEvent(s, 'relayError'),
        nextEvent(s, 'dummy'),
      ]);
      conn.send(
        { type: 'sealed_message', body: { x: 1 } },
        { type: 'chat', to: 'x', body: 'b' },
        { type: 'error', code: 'rate_limited', message: 'slow down', retry_after: 3 },
        { type: 'dummy_pacing' },
      );
      const [[sealed], [frame], [error], [dummy]] = await events;
      assert.deepEqual(sealed, { type: 'sealed_message', body: { x: 1 } });
      assert.equal(frame.type, 'chat');
      assert.deepEqual(error, { code: 'rate_limited', message: 'slow down', retry_after: 3 });
      assert.deepEqual(dummy, { type: 'dummy_pacing' });
      assert.equal(s.dummyCounts.dummy_pacing, 1);
      assert.equal(s.state, 'open', 'rate_limited does not end the session');
    });
  });

  describe('reconnection', () => {
    it('reconnects after a dropped socket, with the session token', async () => {
      relay.afterAuth = () => [{ type: 'queued_message', id: 'q1', payload: { type: 'x' } }];
      const s = session();
      const queuedIds: string[] = [];
      s.on('queued', (e) => queuedIds.push(e.id));
      const closes: AnyJson[] = [];
      s.on('close', (e) => closes.push(e));
      const first = await s.connect();
      await ackedAll(relay, ['q1']);

      const reconnecting = nextEvent(s, 'reconnecting');
      const again = nextEvent(s, 'authenticated');
      relay.connections[0]!.ws.terminate();
      const [{ attempt }] = await reconnecting;
      const [second] = await again;

      assert.equal(attempt, 1);
      assert.deepEqual(closes, [{ code: 1006, reason: '' }]);
      const [, payload] = relay.authFrames();
      assert.equal(payload.session_token, first.session_token);
      assert.equal(payload.seed, undefined);
      assert.notEqual(second.session_token, first.session_token);
      await ackedAll(relay, ['q1'], 1);
      assert.deepEqual(queuedIds, ['q1'], 'the redelivered item is not emitted twice');
    });

    it('falls back to PoW + signature when the token is refused', async () => {
      const s = session();
      await s.connect();
      relay.refuseTokens = true;
      const again = nextEvent(s, 'authenticated');
      relay.connections[0]!.ws.terminate();
      await again;
      const kinds = relay.authFrames().map((p) => (p.session_token ? 'token' : 'pow'));
      assert.deepEqual(kinds, ['pow', 'token', 'pow']);
      assert.equal(s.state, 'open');
    });

    it('close() closes with a handshake and does not reconnect', async () => {
      const s = session();
      await s.connect();
      const serverSide = nextEvent(relay, 'closed');
      await s.close();
      const [, code] = await serverSide;
      assert.equal(code, 1000);
      assert.equal(s.state, 'closed');
      await sleep(NO_RECONNECT_WINDOW_MS);
      assert.equal(relay.connections.length, 1);
    });

    for (const code of ['session_replaced', 'account_burned']) {
      it(`stops reconnecting after ${code}`, async () => {
        const s = session();
        await s.connect();
        const error = nextEvent(s, 'relayError');
        const closed = nextEvent(s, 'close');
        const conn = relay.connections[0]!;
        conn.send({ type: 'error', code, message: 'bye' });
        conn.ws.close(4000);
        assert.equal((await error)[0].code, code);
        await closed;
        assert.equal(s.state, 'closed');
        await sleep(NO_RECONNECT_WINDOW_MS);
        assert.equal(relay.connections.length, 1);
      });
    }

    it('stays down with reconnect: false', async () => {
      const s = session({ reconnect: false });
      await s.connect();
      const closed = nextEvent(s, 'close');
      relay.connections[0]!.ws.terminate();
      await closed;
      await sleep(NO_RECONNECT_WINDOW_MS);
      assert.equal(relay.connections.length, 1);
      assert.equal(s.state, 'closed');
    });
  });

  describe('sending', () => {
    const BOB = 'b'.repeat(64);

    it('send() resolves with the delivery_status of its own id', async () => {
      const relays: AnyJson[] = [];
      relay.onRelay = (conn, frame) => {
        relays.push(frame);
        if (relays.length < 2) return;
        // Answer in reverse order: correlation must be by id, not by order.
        conn.send(
          {
            type: 'delivery_status',
            id: relays[1].id,
            target: BOB,
            status: 'rejected',
            reason: 'mailbox_full',
          },
          { type: 'delivery_status', id: relays[0].id, target: BOB, status: 'delivered' },
        );
      };
      const s = session();
      await s.connect();
      const [a, b] = await Promise.all([s.send(BOB, 'env-a', { id: 'a' }), s.send(BOB, 'env-b')]);
      assert.deepEqual(relays[0], { type: 'relay', to: BOB, envelope: 'env-a', id: 'a' });
      assert.match(relays[1].id, /^[0-9a-f]{32}$/);
      assert.equal(a.id, 'a');
      assert.equal(a.status, 'delivered');
      assert.equal(b.id, relays[1].id);
      assert.equal(b.status, 'rejected');
      assert.equal(b.reason, 'mailbox_full');
    });

    it('sendBinary() sends [hex recipient][payload] and takes the next status for it', async () => {
      const s = session();
      await s.connect();
      const received = nextEvent(relay, 'binary');
      const status = await s.sendBinary(BOB.toUpperCase(), Buffer.from([1, 2, 3]));
      const [, frame] = await received;
      assert.deepEqual(frame, Buffer.concat([Buffer.from(BOB), Buffer.from([1, 2, 3])]));
      assert.equal(status.target, BOB);
      assert.equal(status.status, 'queued');
    });

    it('send() rejects on timeout, and on close before the status', async () => {
      relay.onRelay = () => {};
      const s = session();
      await s.connect();
      await rejectsWithCode(s.send(BOB, 'env', { timeoutMs: 20 }), 'timeout');
      const pending = s.send(BOB, 'env');
      await nextEvent(relay, 'frame', (_conn, f) => f.type === 'relay');
      relay.connections[0]!.ws.terminate();
      await rejectsWithCode(pending, 'connection_closed');
    });

    it('send() before connect() rejects with not_connected', async () => {
      await rejectsWithCode(session().send(BOB, 'env'), 'not_connected');
    });

    it('subscribeAlias() solves PoW for the alias and resolves on alias_subscribed', async () => {
      relay.aliasLimit = 1;
      const s = session();
      await s.connect();
      await s.subscribeAlias('room-1');
      await rejectsWithCode(s.subscribeAlias('room-2'), 'alias_limit');
      assert.equal(s.state, 'open');
    });

    it('ping() resolves on dummy_ack', async () => {
      const s = session();
      await s.connect();
      await s.ping();
      await s.dummy();
      assert.equal(s.dummyCounts.dummy_ack, 2);
    });
  });
});

describe('identity file', () => {
  it('round-trips an identity, owner-only, and never overwrites one', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'entropy-identity-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'id.json');
    const identity = generateIdentity();
    await saveIdentity(file, identity);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const loaded = await loadIdentity(file);
    assert.equal(loaded.identityHash, identity.identityHash);
    assert.deepEqual(loaded.publicKey, identity.publicKey);
    assert.equal(signMessage(loaded, 'x'), signMessage(identity, 'x')); // Ed25519 is deterministic
    await assert.rejects(saveIdentity(file, generateIdentity()), { code: 'EEXIST' });
    assert.equal((await loadIdentity(file)).identityHash, identity.identityHash);
  });

  it("refuses a file whose identity_hash is not the key's", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'entropy-identity-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'id.json');
    await saveIdentity(file, generateIdentity());
    const json = JSON.parse(await readFile(file, 'utf8'));
    await writeFile(file, JSON.stringify({ ...json, identity_hash: 'a'.repeat(64) }));
    await assert.rejects(loadIdentity(file), /does not match/);
  });
});
