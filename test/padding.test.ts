// Padding (PROTOCOL.md §6): exact lengths, JSON whitespace only, every parser still reads it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  PADDED_SIZE,
  padBinary,
  padJson,
  padJsonText,
  paddedLength,
} from '../src/normalize/padding.js';

describe('padding', () => {
  it('pads JSON to 1536 bytes, or the next multiple', () => {
    for (const size of [2, 100, 1535, 1536, 1537, 3072, 5000]) {
      const text = JSON.stringify({ s: 'x'.repeat(Math.max(0, size - 8)) });
      const padded = padJsonText(text);
      assert.equal(padded.length, paddedLength(Buffer.byteLength(text)));
      assert.equal(padded.length % PADDED_SIZE, 0);
      assert.ok(
        padded.length >= Buffer.byteLength(text) &&
          padded.length - Buffer.byteLength(text) < PADDED_SIZE,
      );
      assert.deepEqual(JSON.parse(padded.toString('utf8')), JSON.parse(text));
    }
  });

  it('fills with space, tab, CR and LF only, drawn at random', () => {
    const a = padJson({ type: 'dummy_pacing' });
    const b = padJson({ type: 'dummy_pacing' });
    const tail = a.subarray(Buffer.byteLength('{"type":"dummy_pacing"}'));
    assert.match(tail.toString('latin1'), /^[ \t\r\n]+$/);
    const counts = new Map<number, number>();
    for (const byte of tail) counts.set(byte, (counts.get(byte) ?? 0) + 1);
    assert.equal(counts.size, 4, 'all four whitespace characters appear');
    for (const count of counts.values()) assert.ok(count > tail.length / 8, 'roughly even');
    assert.notDeepEqual(a, b, 'two paddings differ');
  });

  it('counts multi-byte characters in bytes', () => {
    const padded = padJson({ s: 'é✓'.repeat(600) });
    assert.equal(padded.length % PADDED_SIZE, 0);
    assert.equal(JSON.parse(padded.toString('utf8')).s, 'é✓'.repeat(600));
  });

  it('zero-pads binary frames', () => {
    for (const size of [0, 1, 1536, 1537]) {
      const padded = padBinary(Buffer.alloc(size, 0xff));
      assert.equal(
        padded.length,
        Math.max(PADDED_SIZE, Math.ceil(size / PADDED_SIZE) * PADDED_SIZE),
      );
      assert.ok(padded.subarray(0, size).every((b) => b === 0xff));
      assert.ok(padded.subarray(size).every((b) => b === 0));
    }
  });
});
