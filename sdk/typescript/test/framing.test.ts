// The frame splitter: boundaries anywhere, limits checked before allocation.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrameReader, FrameSizeError } from '../src/index.js';

function frame(length: number, fill: number): Uint8Array {
  const out = new Uint8Array(4 + length);
  new DataView(out.buffer).setUint32(0, length, true);
  out.fill(fill, 4);
  return out;
}

test('splits several frames delivered in one chunk', () => {
  const reader = new FrameReader(1024);
  const bytes = Buffer.concat([frame(8, 1), frame(20, 2), frame(9, 3)]);
  const out = reader.push(bytes);
  assert.deepEqual(out.map((f) => [f.length, f[0]]), [[8, 1], [20, 2], [9, 3]]);
  assert.ok(reader.idle);
});

test('reassembles frames split at every possible boundary', () => {
  const bytes = Buffer.concat([frame(12, 7), frame(30, 8)]);
  for (let cut = 1; cut < bytes.length; cut++) {
    const reader = new FrameReader(1024);
    const out = [...reader.push(bytes.subarray(0, cut)), ...reader.push(bytes.subarray(cut))];
    assert.deepEqual(out.map((f) => f.length), [12, 30], `cut at ${cut}`);
  }
});

test('copies frames into their own 8-byte aligned buffers', () => {
  const reader = new FrameReader(1024);
  const bytes = Buffer.concat([Buffer.alloc(3), frame(16, 5)]).subarray(3);
  const [f] = reader.push(bytes);
  assert.equal(f!.byteOffset % 8, 0);
  assert.notEqual(f!.buffer, bytes.buffer);
});

test('rejects a length prefix over the limit before the body arrives', () => {
  const reader = new FrameReader(1024);
  const prefix = new Uint8Array(4);
  new DataView(prefix.buffer).setUint32(0, 1025, true);
  assert.throws(() => reader.push(prefix), (err: unknown) =>
    err instanceof FrameSizeError && err.length === 1025 && err.limit === 1024);
});

test('rejects a length prefix below the minimum frame', () => {
  const reader = new FrameReader(1024);
  assert.throws(() => reader.push(frame(4, 0)), /below the minimum of 8/);
});

test('a lowered limit applies to the next frame', () => {
  const reader = new FrameReader(4096);
  assert.equal(reader.push(frame(2000, 1)).length, 1);
  reader.maxFrameSize = 1024;
  assert.throws(() => reader.push(frame(2000, 1)), FrameSizeError);
});
