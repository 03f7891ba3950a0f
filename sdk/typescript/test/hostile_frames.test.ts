// Corrupt or hostile inbound frames: every read outside the frame is refused with
// FrameFormatError, and on a connection that ends it with a retryable UNAVAILABLE.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as flatbuffers from 'flatbuffers';
import * as wire from '../src/generated/outrigger_generated.js';
import { decodeFrame, FrameFormatError, OutriggerClient } from '../src/index.js';
import { echo, endFrame, FakeDaemon } from './support/fake_daemon.js';
import {
  bodyOffsetPosition,
  CHUNK_DELTA,
  CHUNK_TOOL_CALLS,
  END_CONTENT,
  END_TOOL_CALLS,
  END_USAGE,
  END_VERDICTS,
  fieldPositions,
  patched,
  type BodyField,
} from './support/hostile_frames.js';
import { rejection, user } from './support/calls.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const schemasDir = path.resolve(here, '../../../../schemas');
const vectorsDir = process.env['OUTRIGGER_VECTORS_DIR'] ?? path.join(schemasDir, 'vectors');

/** A shared test vector: a size-prefixed frame with every field set. */
const vector = (name: string) => new Uint8Array(fs.readFileSync(path.join(vectorsDir, `${name}.bin`)));
const end = vector('response_end_ok');
const chunk = vector('response_chunk');

/** Decodes a size-prefixed frame the way the connection does. */
const decode = (sizePrefixed: Uint8Array) => decodeFrame(sizePrefixed.slice(4));

describe('decoding refuses reads outside the frame', () => {
  const vectors: Array<[string, Uint8Array, BodyField]> = [
    ['ResponseEnd.tool_calls', end, END_TOOL_CALLS],
    ['ResponseEnd.verdicts', end, END_VERDICTS],
    ['ResponseChunk.tool_calls', chunk, CHUNK_TOOL_CALLS],
  ];
  for (const [name, frame, field] of vectors) {
    test(`a ${name} length past the end of the frame`, () => {
      const at = fieldPositions(frame, field).target;
      assert.throws(() => decode(patched(frame, at, 1000)),
        (err) => err instanceof FrameFormatError && /vector of 1000 elements .* overruns/.test(err.message));
      assert.throws(() => decode(patched(frame, at, 0x80000000)), FrameFormatError, 'a negative length');
    });
  }

  for (const [name, frame, field] of [['ResponseEnd.content', end, END_CONTENT], ['ResponseChunk.delta', chunk, CHUNK_DELTA]] as const) {
    test(`a ${name} string length past the end of the frame`, () => {
      const bad = patched(frame, fieldPositions(frame, field).target, 10_000);
      assert.throws(() => decode(bad), /string of 10000 elements .* overruns/);
    });
  }

  test('a string offset past the end of the frame', () => {
    const bad = patched(end, fieldPositions(end, END_CONTENT).field, end.length);
    assert.throws(() => decode(bad), (err) => err instanceof FrameFormatError && /outside/.test(err.message));
  });

  test('a table offset past the end of the frame', () => {
    const bad = patched(end, fieldPositions(end, END_USAGE).field, 1 << 20);
    assert.throws(() => decode(bad), (err) => err instanceof FrameFormatError && /outside/.test(err.message));
  });

  test('a body offset past the end of the frame', () => {
    const bad = patched(end, bodyOffsetPosition(end), 0xFFFFFFF0);
    assert.throws(() => decode(bad), (err) => err instanceof FrameFormatError && /outside/.test(err.message));
  });

  test('any 32-bit value overwritten anywhere decodes or throws FrameFormatError', () => {
    const values = [0xFFFFFFFF, 0x80000000, 0x7FFFFFFF, 0x00FFFFFF, 0x0000FFFF];
    for (const frame of [end, chunk]) {
      for (let at = 4; at + 4 <= frame.length; at++) {
        for (const value of values) {
          try {
            decode(patched(frame, at, value));
          } catch (err) {
            assert.ok(err instanceof FrameFormatError, `byte ${at} = ${value}: ${String(err)}`);
          }
        }
      }
    }
  });

  test('offsets sharing one string cannot make a frame decode to many times its size', () => {
    const b = new flatbuffers.Builder(1024);
    const shared = b.createString('a'.repeat(64 * 1024));
    const call = wire.ToolCall.createToolCall(b, b.createString('id'), b.createString('function'),
      b.createString('f'), shared);
    const calls = wire.ResponseEnd.createToolCallsVector(b, new Array<number>(1000).fill(call));
    wire.ResponseEnd.startResponseEnd(b);
    wire.ResponseEnd.addToolCalls(b, calls);
    const body = wire.ResponseEnd.endResponseEnd(b);
    wire.Frame.finishFrameBuffer(b, wire.Frame.createFrame(b, 1n, wire.Body.ResponseEnd, body));
    const bytes = b.asUint8Array().slice();
    assert.ok(bytes.length < 80 * 1024, `${bytes.length}-byte frame`);
    assert.throws(() => decodeFrame(bytes),
      (err) => err instanceof FrameFormatError && /decodes to more than 4 times its size/.test(err.message));
  });

  test('a frame written normally decodes within the bound', () => {
    const calls = Array.from({ length: 1000 }, (_, i) => ({ id: `c${i}`, type: 'function', name: 'f', arguments: 'a'.repeat(64) }));
    const frame = decode(endFrame(1, { content: 'b'.repeat(64 * 1024), toolCalls: calls }));
    assert.ok(frame.kind === 'ResponseEnd' && frame.end.toolCalls?.length === 1000);
  });

  test('every vector in the schema holds 4-byte offsets (tables or strings)', () => {
    // The vector bounds check relies on it; a vector of scalars or structs needs its own size.
    const schema = fs.readFileSync(path.join(schemasDir, 'outrigger.fbs'), 'utf8');
    const tables = new Set([...schema.matchAll(/^table (\w+)/gm)].map((m) => m[1]!));
    const elements = [...schema.matchAll(/^\s*\w+\s*:\s*\[(\w+)\]/gm)].map((m) => m[1]!);
    assert.ok(elements.length >= 8, `found ${elements.length} vectors`);
    for (const element of elements) assert.ok(element === 'string' || tables.has(element), element);
  });
});

describe('a hostile frame on a connection', () => {
  test('a huge vector length fails every call on the connection UNAVAILABLE; the next call reconnects', async () => {
    let first = true;
    const daemon = await FakeDaemon.start({
      onRequest: (req, d) => {
        if (!first) return echo(req, d);
        if (req.body['stream'] === true) return; // left pending: it shares the connection
        first = false;
        const answer = endFrame(req.streamId, {
          content: 'x', toolCalls: [{ id: 'a', type: 'function', name: 'f', arguments: '{}' }],
        });
        req.conn.send(patched(answer, fieldPositions(answer, END_TOOL_CALLS).target, 0x7FFFFFFF));
      },
    });
    const client = new OutriggerClient({ socketPath: daemon.socketPath });
    try {
      const pending = client.stream(user('pending'));
      await daemon.until(() => daemon.requests.length === 1, 'the streamed request');
      const [unary, streamed] = await Promise.all([
        rejection(client.chat(user('x'))), rejection(pending.finalResponse())]);
      for (const err of [unary!, streamed!]) {
        assert.equal(err.code, 'UNAVAILABLE');
        assert.equal(err.retryable, true);
        assert.equal(err.origin, 'client/connection');
        assert.match(err.detail, /protocol error: vector of 2147483647 elements/);
      }
      assert.equal((await client.chat(user('again'))).content, 'again');
      assert.equal(client.stats.connects, 2);
    } finally {
      client.close();
      await daemon.stop();
    }
  });
});
