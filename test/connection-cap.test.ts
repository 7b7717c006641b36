// The per-IP connection cap (net/connection-cap.ts) without a network: real, unconnected
// net.Socket objects admitted for a client address. At the cap a socket is destroyed and counted
// as refused; a closed socket frees its place; IPv6 clients count per /64; a trusted proxy is
// not capped (its clients are limited by forwarded address); every socket is in the open gauge.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { Metrics } from '../src/metrics.js';
import { compileTrust } from '../src/net/client-ip.js';
import { ConnectionCap } from '../src/net/connection-cap.js';
import { counterValue } from './helpers/domain.js';

const PROXY = '10.0.0.1';

function setup(maxPerIp = 2) {
  const metrics = new Metrics();
  const cap = new ConnectionCap(maxPerIp, compileTrust([PROXY]), metrics);
  const sockets: Socket[] = [];
  /** A new socket admitted for `client`: whether it was, and the socket. */
  const admit = (client: string): [boolean, Socket] => {
    const socket = new Socket();
    sockets.push(socket);
    return [cap.admit(socket, client), socket];
  };
  const close = async (socket: Socket): Promise<void> => {
    const closed = once(socket, 'close');
    socket.destroy();
    await closed;
  };
  const closeAll = () => Promise.all(sockets.filter((s) => !s.closed).map(close));
  return { metrics, cap, admit, close, closeAll };
}

describe('ConnectionCap', () => {
  it('admits maxPerIp sockets of one address and destroys the next, counting it', async (t) => {
    const { metrics, admit, closeAll } = setup(2);
    t.after(closeAll);
    assert.equal(admit('203.0.113.5')[0], true);
    assert.equal(admit('203.0.113.5')[0], true);
    const [admitted, refused] = admit('203.0.113.5');
    assert.equal(admitted, false);
    assert.equal(refused.destroyed, true);
    assert.equal(await counterValue(metrics.connectionsRefused), 1);
    assert.equal(admit('203.0.113.6')[0], true, 'another address has its own count');
  });

  it('a closed socket frees its place', async (t) => {
    const { admit, close, closeAll } = setup(1);
    t.after(closeAll);
    const [, first] = admit('203.0.113.5');
    assert.equal(admit('203.0.113.5')[0], false);
    await close(first);
    const [admitted, again] = admit('203.0.113.5');
    assert.equal(admitted, true);
    assert.equal(again.destroyed, false);
    assert.equal(admit('203.0.113.5')[0], false, 'and only one');
  });

  it('counts IPv6 clients per /64, and an IPv4-mapped address as its IPv4', async (t) => {
    const { admit, closeAll } = setup(2);
    t.after(closeAll);
    assert.equal(admit('2001:db8:1:2::1')[0], true);
    assert.equal(admit('2001:db8:1:2:ffff::9')[0], true);
    assert.equal(admit('2001:db8:1:2::abcd')[0], false, 'the same /64');
    assert.equal(admit('2001:db8:1:3::1')[0], true, 'the next /64');
    assert.equal(admit('198.51.100.1')[0], true);
    assert.equal(admit('::ffff:198.51.100.1')[0], true);
    assert.equal(admit('198.51.100.1')[0], false, 'both count for 198.51.100.1');
  });

  it('does not cap a trusted proxy', async (t) => {
    const { metrics, admit, closeAll } = setup(1);
    t.after(closeAll);
    for (let i = 0; i < 5; i++) assert.equal(admit(PROXY)[0], true);
    assert.equal(await counterValue(metrics.connectionsRefused), 0);
    assert.equal(await counterValue(metrics.openSockets), 5);
  });

  it('counts every admitted socket in the open gauge until it closes', async (t) => {
    const { metrics, admit, close, closeAll } = setup(1);
    t.after(closeAll);
    const [, kept] = admit('203.0.113.5');
    const [, refused] = admit('203.0.113.5');
    // The refused socket was open too, until the cap destroyed it.
    await once(refused, 'close');
    assert.equal(await counterValue(metrics.openSockets), 1);
    await close(kept);
    assert.equal(await counterValue(metrics.openSockets), 0);
  });

  it('refuses a socket destroyed already, without counting it', async (t) => {
    const { metrics, cap, admit, closeAll } = setup(1);
    t.after(closeAll);
    const gone = new Socket();
    gone.destroy();
    assert.equal(cap.admit(gone, '203.0.113.7'), false);
    assert.equal(await counterValue(metrics.openSockets), 0);
    assert.equal(await counterValue(metrics.connectionsRefused), 0);
    assert.equal(admit('203.0.113.7')[0], true, 'its place is free');
  });
});
