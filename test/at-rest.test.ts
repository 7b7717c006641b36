// Nothing at rest identifies a client or links a sender to a recipient (docs/protocol.md §7): after
// REST and WebSocket traffic, no key or value in Redis holds a client IP, and while messages are
// relayed Redis sees nothing of the sender (MONITOR), so neither a snapshot nor a live observer
// of the store can tie a sender's activity to a recipient's.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { generateIdentity } from '../src/client/identity.js';
import { RelayClient } from '../src/client/rest-client.js';
import { RelaySession } from '../src/client/ws-client.js';
import { testRedisStore } from './helpers/backends.js';
import { dumpRedis } from './helpers/redis-keys.js';
import { startRedisServer, type TestRedisServer } from './helpers/redis-server.js';
import { startTestRelay, type TestRelay } from './helpers/relay.js';

const LIMITS = { powLimit: 1000, limitGlobal: 1000, limitKeysUpload: 100 };

describe('at rest: what Redis holds and sees', () => {
  let redis: TestRedisServer;
  let a: TestRelay;
  let b: TestRelay;
  const sessions: RelaySession[] = [];

  before(async () => {
    redis = await startRedisServer();
    a = await startTestRelay(LIMITS, { store: testRedisStore({ url: redis.url }) });
    b = await startTestRelay(LIMITS, { store: testRedisStore({ url: redis.url }) });
  });
  after(async () => {
    await Promise.all(sessions.map((s) => s.close()));
    await Promise.all([a.close(), b.close()]);
    await redis.stop();
  });

  it('holds no client IP, and sees nothing of a sender while it relays', async () => {
    const sender = generateIdentity();
    const nearby = generateIdentity(); // online on the sender's instance
    const remote = generateIdentity(); // online on the other instance
    const offline = generateIdentity();
    const rest = new RelayClient({ url: a.relay.url, ca: a.relay.tls!.cert });
    for (const id of [nearby, remote, offline]) await rest.uploadBundle(id);
    await rest.request('GET', `/keys/fetch?user=${offline.identityHash}`);

    const open = (relay: TestRelay, identity = generateIdentity()) => {
      const s = new RelaySession({ url: relay.relay.url, ca: relay.relay.tls!.cert, identity });
      sessions.push(s);
      return s;
    };
    const from = open(a, sender);
    const toNearby = open(a, nearby);
    const toRemote = open(b, remote);
    await Promise.all([from.connect(), toNearby.connect(), toRemote.connect()]);

    // Watch every command Redis receives while messages are relayed.
    const watcher = new Redis({ port: redis.port, host: '127.0.0.1' });
    const monitor = await watcher.monitor();
    const seen: string[] = [];
    monitor.on('monitor', (_time: string, args: string[]) => seen.push(args.join(' ')));
    const received = new Promise<void>((resolve) => {
      let count = 0;
      const one = () => ++count === 4 && resolve();
      for (const s of [toNearby, toRemote]) {
        s.on('message', one);
        s.on('binary', one);
      }
    });
    for (const to of [nearby, remote]) {
      assert.equal((await from.send(to.identityHash, 'hello')).status, 'delivered');
      assert.equal(
        (await from.sendBinary(to.identityHash, Buffer.from('bytes'))).status,
        'delivered',
      );
    }
    assert.equal((await from.send(offline.identityHash, 'later')).status, 'queued');
    await received;
    // A last round trip through Redis, so every command of the relay phase has been seen.
    await a.relay.store.ping();
    monitor.disconnect();
    watcher.disconnect();

    const relayPhase = seen.join('\n');
    assert.ok(relayPhase.length > 0, 'MONITOR saw the relay phase');
    assert.ok(!relayPhase.includes(sender.identityHash), 'no command names the sender');
    assert.ok(!relayPhase.includes('rl:ip:'), 'no per-IP bucket is touched by relayed frames');
    assert.ok(relayPhase.includes(offline.identityHash), 'the offline recipient was queued for');

    const dump = await dumpRedis(redis.port);
    for (const [key, value] of dump) {
      for (const ip of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) {
        assert.ok(!key.includes(ip) && !value.includes(ip), `${key} holds ${ip}`);
      }
    }
    const ipKeys = [...dump.keys()].filter((k) => k.startsWith('rl:ip:'));
    assert.ok(ipKeys.length > 0, 'per-IP buckets exist, under a keyed hash');
    for (const key of ipKeys) assert.match(key, /^rl:ip:[a-z_]+:[0-9a-f]{32}$/);
    // What does name the sender: its own session tokens and auth bucket, nothing per message.
    const senderKeys = [...dump.keys()].filter((k) => k.includes(sender.identityHash));
    for (const key of senderKeys) assert.match(key, /^(session|rl):\{[0-9a-f]{64}\}(:ws_auth)?$/);
  });
});
