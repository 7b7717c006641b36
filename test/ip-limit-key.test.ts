// The key per-IP limits are counted under (docs/protocol.md §1): IPv4 as it is, IPv4-mapped IPv6 as
// its IPv4, IPv6 per /64, whatever notation the address is written in.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ipLimitKey } from '../src/net/ip-limit-key.js';

function assertKeys(cases: Record<string, string>): void {
  for (const [ip, key] of Object.entries(cases)) assert.equal(ipLimitKey(ip), key, ip);
}

describe('ipLimitKey', () => {
  it('keeps an IPv4 address as it is', () => {
    assertKeys({ '1.2.3.4': '1.2.3.4', '127.0.0.1': '127.0.0.1', '0.0.0.0': '0.0.0.0' });
  });

  it('counts an IPv4-mapped IPv6 address as its IPv4 address, in any notation', () => {
    assertKeys({
      '::ffff:1.2.3.4': '1.2.3.4',
      '::FFFF:127.0.0.1': '127.0.0.1',
      '0:0:0:0:0:ffff:1.2.3.4': '1.2.3.4',
      '::ffff:102:304': '1.2.3.4',
      '::ffff:1.2.3.4%eth0': '1.2.3.4',
    });
  });

  it('counts an IPv6 address by its /64, compressed or not', () => {
    assertKeys({
      '2001:db8::1': '2001:db8:0:0::/64',
      '2001:DB8::1': '2001:db8:0:0::/64',
      '2001:0db8:0000:0000:0000:0000:0000:0001': '2001:db8:0:0::/64',
      '2001:db8::': '2001:db8:0:0::/64',
      '2001:db8:1:2:3:4:5:6': '2001:db8:1:2::/64',
      '2001:db8:1:2::': '2001:db8:1:2::/64',
      '2001:db8:1::2:3:4:5': '2001:db8:1:0::/64',
      '1::': '1:0:0:0::/64',
      '::1': '0:0:0:0::/64',
      '::': '0:0:0:0::/64',
      'ffff:ffff:ffff:ffff::': 'ffff:ffff:ffff:ffff::/64',
    });
  });

  it('gives every host of one /64 the same key, and other /64s other keys', () => {
    const key = ipLimitKey('2001:db8:a:b::1');
    assert.equal(ipLimitKey('2001:db8:a:b:ffff:ffff:ffff:ffff'), key);
    assert.notEqual(ipLimitKey('2001:db8:a:c::1'), key);
    assert.notEqual(ipLimitKey('2001:db8:a::b:0:0:1'), key);
  });

  it('ignores a zone id', () => {
    assertKeys({
      'fe80::1%eth0': 'fe80:0:0:0::/64',
      'fe80::2%1': 'fe80:0:0:0::/64',
      'fe80:1:2:3::%25lo': 'fe80:1:2:3::/64',
    });
  });

  it('reads an IPv4 address embedded in the last 32 bits', () => {
    assertKeys({
      '64:ff9b::1.2.3.4': '64:ff9b:0:0::/64',
      '1:2:3:4:5:6:1.2.3.4': '1:2:3:4::/64',
      '2001:db8:1:2::10.0.0.1': '2001:db8:1:2::/64',
    });
  });

  it('returns what is not an IP address unchanged', () => {
    for (const invalid of [
      '',
      'garbage',
      '1.2.3',
      '1:2:3:4:5:6:7:8:9',
      ':::1',
      '1::2::3',
      '2001:db8::g',
      '2001:db8::12345',
      '[::1]',
      '2001:db8::1/64',
      '::ffff:1.2.3.256',
      ' ::1',
    ]) {
      assert.equal(ipLimitKey(invalid), invalid, JSON.stringify(invalid));
    }
  });
});
