// WebSocket authentication under abuse (PROTOCOL.md §4.2, §9 "Per identity"), over real TLS
// sockets, and the legacy names of compat mode accepted alike by the challenge route and the
// WebSocket.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { solvePow } from '../src/client/pow-solver.js';
import type { Relay } from '../src/server.js';
import { startTestRelay, type TestRelay } from './helpers/relay.js';
import { RawPeer } from './helpers/ws.js';

type Json = Record<string, unknown>;

const GENEROUS = {
  jitterMs: [0, 2] as [number, number],
  limitWsFrames: 100_000,
  powLimit: 10_000,
  limitGlobal: 10_000,
};

/** One auth on a fresh socket: the first frame the relay answers, and how the socket ended. */
async function attempt(
  relay: Relay,
  payload: Json,
  localAddress?: string,
): Promise<{ frame: Json; close?: number }> {
  const peer = await RawPeer.open(relay, { localAddress });
  peer.send({ type: 'auth', payload });
  const frame = (await peer.next()).json as Json;
  if (frame.type === 'auth_success') {
    await peer.close();
    return { frame };
  }
  return { frame, close: (await peer.closed).code };
}

describe('compat v1: legacy names are addresses everywhere', () => {
  const legacyAuth = async (
    t: TestRelay,
    name: string,
  ): Promise<{ frame: Json; close?: number }> => {
    const challenge = await t.request(`/pow/challenge?identity_hash=${name}`);
    assert.equal(challenge.status, 200, JSON.stringify(challenge.json));
    const { seed, difficulty } = challenge.json as { seed: string; difficulty: number };
    return attempt(t.relay, {
      identity_hash: name,
      seed,
      nonce: await solvePow(seed, name, difficulty),
    });
  };

  it('compat mode: a challenge for a legacy name, then PoW-only auth with it', async () => {
    const t = await startTestRelay({ ...GENEROUS, compat: 'v1' });
    try {
      const { frame } = await legacyAuth(t, 'replay_user');
      assert.equal(frame.type, 'auth_success');
      assert.equal(frame.identity_hash, 'replay_user');
      // What no mode accepts is refused by the challenge route too.
      for (const bad of ['bad%20name', 'a'.repeat(65), 'caf%C3%A9']) {
        const refused = await t.request(`/pow/challenge?identity_hash=${bad}`);
        assert.equal(refused.status, 400, bad);
        assert.equal(refused.json.code, 'invalid_identity_hash');
      }
    } finally {
      await t.close();
    }
  });

  it('default mode: 400 invalid_identity_hash, and the WebSocket refuses the name as well', async () => {
    const t = await startTestRelay(GENEROUS);
    try {
      const refused = await t.request('/pow/challenge?identity_hash=replay_user');
      assert.equal(refused.status, 400);
      assert.equal(refused.json.code, 'invalid_identity_hash');
      const { seed } = (await t.request('/pow/challenge')).json as { seed: string };
      const auth = await attempt(t.relay, {
        identity_hash: 'replay_user',
        seed,
        nonce: await solvePow(seed, 'replay_user', 4),
      });
      assert.equal(auth.frame.code, 'auth_failed');
      assert.equal(auth.close, 4001);
    } finally {
      await t.close();
    }
  });
});
