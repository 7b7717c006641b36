// Padding (docs/protocol.md §6): exact lengths, JSON whitespace only, every parser still reads it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Writable } from 'node:stream';
import * as ws from 'ws';
import {
  PADDED_SIZE,
  fixedJson,
  fixedJsonFrame,
  padBinary,
  padBinaryFrame,
  padJson,
  padJsonFrame,
  padJsonText,
  paddedLength,
} from '../src/normalize/padding.js';

/** ws's frame parser (exported by ws, not by its type definitions). */
const { Receiver } = ws as unknown as {
  Receiver: new (options: { isServer: boolean; maxPayload: number }) => Writable;
};

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

  it('builds whole WebSocket frames a WebSocket parser reads back as the padded payload', () => {
    // Every alignment of the whitespace start, and payloads on both sides of the 16-bit length.
    const sizes = [0, 1, 2, 3, 4, 5, 100, 1520, 1521, 1522, 1523, 70_000, 70_001, 70_002, 70_003];
    const frames: Array<{ frame: Buffer; binary: boolean }> = [];
    for (const size of sizes) {
      frames.push({ frame: padJsonFrame({ s: 'x'.repeat(size) }), binary: false });
      frames.push({ frame: padBinaryFrame(Buffer.alloc(size, 0xff)), binary: true });
    }
    const fixed = fixedJson({ type: 'dummy_pacing' });
    frames.push({ frame: fixedJsonFrame(fixed), binary: false });
    const received: Array<{ data: Buffer; binary: boolean }> = [];
    const receiver = new Receiver({ isServer: false, maxPayload: 0 });
    receiver.on('message', (data: Buffer, binary: boolean) => received.push({ data, binary }));
    for (const { frame } of frames) receiver.write(frame);
    assert.equal(received.length, frames.length);
    received.forEach(({ data, binary }, i) => {
      const size = sizes[i >> 1] ?? 0;
      assert.equal(binary, frames[i]!.binary);
      if (i === frames.length - 1) {
        assert.equal(data.length, PADDED_SIZE);
        assert.deepEqual(JSON.parse(data.toString('utf8')), { type: 'dummy_pacing' });
        return;
      }
      if (binary) {
        assert.equal(data.length, paddedLength(size));
        assert.ok(data.subarray(0, size).every((b) => b === 0xff));
        assert.ok(data.subarray(size).every((b) => b === 0));
        return;
      }
      const text = JSON.stringify({ s: 'x'.repeat(size) });
      assert.equal(data.length, paddedLength(text.length));
      assert.equal(data.toString('utf8', 0, text.length), text);
      assert.match(data.toString('latin1', text.length), /^[ \t\r\n]+$/);
    });
  });

  it('pads a fixed document afresh each time', () => {
    const fixed = fixedJson({ type: 'dummy_pacing' });
    const a = fixedJsonFrame(fixed);
    const b = fixedJsonFrame(fixed);
    assert.equal(a.length, b.length);
    assert.notDeepEqual(a, b, 'two paddings differ');
  });
});
