// The shared vectors in schemas/vectors: every .bin decodes to its .json, and every frame kind
// a client sends is rebuilt from its .json with this SDK's encoders and described again, by
// this SDK and (when OUTRIGGER_FRAME_DESCRIBE is set) by the C++ frame_describe tool.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  decodeFrame,
  describeFrame,
  encodeCancel,
  encodeFeedback,
  encodeHello,
  encodeRequest,
  FrameReader,
  type ChatRequest,
  type Json,
  type Message,
  type Metadata,
  type Params,
  type ResponseFormatType,
} from '../src/index.js';
import { encodePing, encodePong } from '../src/codec.js';

type Obj = { [key: string]: Json };

const here = path.dirname(fileURLToPath(import.meta.url));
const vectorsDir = process.env['OUTRIGGER_VECTORS_DIR']
  ?? path.resolve(here, '../../../../schemas/vectors');
const frameDescribe = process.env['OUTRIGGER_FRAME_DESCRIBE'];

interface Vector {
  name: string;
  bin: Uint8Array;
  json: Obj;
}

function loadVectors(): Vector[] {
  const names = fs.readdirSync(vectorsDir)
    .filter((f) => f.endsWith('.bin'))
    .map((f) => f.slice(0, -4))
    .sort();
  return names.map((name) => ({
    name,
    bin: new Uint8Array(fs.readFileSync(path.join(vectorsDir, `${name}.bin`))),
    json: JSON.parse(fs.readFileSync(path.join(vectorsDir, `${name}.json`), 'utf8')) as Obj,
  }));
}

const vectors = loadVectors();

// ----------------------------------------------------- canonical JSON -> SDK input objects

const s = (o: Obj, key: string): string | undefined => o[key] as string | undefined;
const n = (o: Obj, key: string): number | undefined => o[key] as number | undefined;

function setIf<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}

function toMessage(m: Obj): Message {
  const out: Message = { role: s(m, 'role') as string };
  if (m['role'] === undefined) delete (out as Partial<Message>).role;
  setIf(out, 'content', s(m, 'content'));
  setIf(out, 'name', s(m, 'name'));
  if (m['tool_calls'] !== undefined) {
    out.toolCalls = (m['tool_calls'] as Obj[]).map((c) => {
      const call: NonNullable<Message['toolCalls']>[number] = {};
      setIf(call, 'id', s(c, 'id'));
      setIf(call, 'type', s(c, 'type'));
      setIf(call, 'name', s(c, 'name'));
      setIf(call, 'arguments', s(c, 'arguments'));
      return call;
    });
  }
  setIf(out, 'toolCallId', s(m, 'tool_call_id'));
  return out;
}

function toParams(p: Obj): Params {
  const out: Params = {};
  setIf(out, 'temperature', n(p, 'temperature'));
  setIf(out, 'topP', n(p, 'top_p'));
  setIf(out, 'maxTokens', n(p, 'max_tokens'));
  setIf(out, 'seed', n(p, 'seed'));
  setIf(out, 'stop', p['stop'] as string[] | undefined);
  if (p['tools'] !== undefined) {
    out.tools = (p['tools'] as Obj[]).map((t) => {
      const tool: NonNullable<Params['tools']>[number] = {};
      setIf(tool, 'type', s(t, 'type'));
      setIf(tool, 'name', s(t, 'name'));
      setIf(tool, 'description', s(t, 'description'));
      setIf(tool, 'parameters', s(t, 'parameters_json'));
      return tool;
    });
  }
  setIf(out, 'toolChoice', s(p, 'tool_choice'));
  const rf = p['response_format'] as Obj | undefined;
  if (rf !== undefined) {
    out.responseFormat = { type: rf['type'] as ResponseFormatType, strict: rf['strict'] as boolean };
    setIf(out.responseFormat, 'schemaName', s(rf, 'schema_name'));
    setIf(out.responseFormat, 'schema', s(rf, 'schema_json'));
  }
  setIf(out, 'extra', s(p, 'extra_json'));
  return out;
}

function toMetadata(m: Obj): Metadata {
  const out: Metadata = {};
  setIf(out, 'tenant', s(m, 'tenant'));
  setIf(out, 'user', s(m, 'user'));
  setIf(out, 'session', s(m, 'session'));
  setIf(out, 'requestId', s(m, 'request_id'));
  setIf(out, 'promptId', s(m, 'prompt_id'));
  setIf(out, 'promptVersion', s(m, 'prompt_version'));
  if (m['tags'] !== undefined) {
    out.tags = Object.fromEntries((m['tags'] as Obj[]).map((t) => [t['key'], t['value']]));
  }
  setIf(out, 'traceparent', s(m, 'traceparent'));
  return out;
}

function toRequest(body: Obj): ChatRequest {
  const req = {} as ChatRequest;
  setIf(req, 'model', s(body, 'model'));
  setIf(req, 'messages', (body['messages'] as Obj[] | undefined)?.map(toMessage));
  if (body['params'] !== undefined) req.params = toParams(body['params'] as Obj);
  if (body['metadata'] !== undefined) req.metadata = toMetadata(body['metadata'] as Obj);
  const cache = body['cache'] as Obj | undefined;
  if (cache !== undefined) {
    req.cache = {
      bypass: cache['bypass'] as boolean,
      noStore: cache['no_store'] as boolean,
      ttlMs: cache['ttl_ms'] as number,
    };
  }
  return req;
}

/** Rebuilds a client-to-daemon frame from its description, or null for other kinds. */
function encodeFromDescription(v: Vector): Uint8Array | null {
  const streamId = v.json['stream_id'] as number;
  const body = v.json['body'] as Obj | undefined;
  switch (v.json['body_type']) {
    case 'Request':
      return encodeRequest({
        streamId,
        request: toRequest(body!),
        stream: body!['stream'] as boolean,
        timeoutMs: body!['timeout_ms'] as number,
      });
    case 'Cancel':
      return encodeCancel(streamId, s(body!, 'reason'));
    case 'Feedback': {
      const init: Parameters<typeof encodeFeedback>[1] = {
        traceId: s(body!, 'trace_id')!,
        score: n(body!, 'score')!,
      };
      setIf(init, 'comment', s(body!, 'comment'));
      if (body!['metadata'] !== undefined) init.metadata = toMetadata(body!['metadata'] as Obj);
      return encodeFeedback(streamId, init);
    }
    case 'Hello':
      // The SDK always names itself; the all-defaults Hello is a decode-only vector.
      if (body!['client_name'] === undefined) return null;
      return encodeHello({
        clientName: s(body!, 'client_name')!,
        clientVersion: s(body!, 'client_version')!,
        sdkLanguage: s(body!, 'sdk_language')!,
        maxFrameSize: n(body!, 'max_frame_size')!,
        features: BigInt(n(body!, 'features')!),
      });
    case 'Ping':
      return encodePing(BigInt(n(body!, 'opaque')!));
    case 'Pong':
      return encodePong(BigInt(n(body!, 'opaque')!));
    default:
      return null;
  }
}

// ------------------------------------------------------------------------------- tests

describe('shared vectors: decode', () => {
  test('the vector set is present', () => {
    assert.ok(vectors.length >= 10, `found ${vectors.length} vectors in ${vectorsDir}`);
  });

  for (const v of vectors) {
    test(`${v.name}.bin describes as ${v.name}.json`, () => {
      assert.deepEqual(describeFrame(v.bin), v.json);
    });
  }

  test('a frame reader fed one byte at a time yields every vector intact', () => {
    const reader = new FrameReader(4 << 20);
    for (const v of vectors) {
      if (v.bin.length > 4096) continue; // request_large is covered below in one push
      const out: Uint8Array[] = [];
      for (let i = 0; i < v.bin.length; i++) out.push(...reader.push(v.bin.subarray(i, i + 1)));
      assert.equal(out.length, 1, v.name);
      assert.deepEqual(out[0], v.bin.subarray(4), v.name);
    }
    const large = vectors.find((v) => v.name === 'request_large');
    if (large !== undefined) assert.deepEqual(reader.push(large.bin)[0], large.bin.subarray(4));
  });
});

describe('shared vectors: the client decoder', () => {
  const byName = new Map(vectors.map((v) => [v.name, v]));
  const decode = (name: string) => {
    const v = byName.get(name);
    assert.ok(v, `vector ${name} is missing`);
    return decodeFrame(v.bin.subarray(4));
  };

  test('response_end_ok maps to the response fields', () => {
    const f = decode('response_end_ok');
    assert.equal(f.kind, 'ResponseEnd');
    if (f.kind !== 'ResponseEnd') return;
    assert.equal(f.streamId, 3);
    assert.equal(f.end.code, 'OK');
    assert.equal(f.end.content, 'It is sunny in Lisbon.');
    assert.equal(f.end.finishReason, 'tool_calls');
    assert.deepEqual(f.end.usage, {
      promptTokens: 42,
      completionTokens: 7,
      cachedTokens: 16,
      reasoningTokens: 3,
      cacheWriteTokens: 5,
    });
    assert.equal(f.end.costUsd, 0.001953125);
    assert.equal(f.end.cacheHit, true);
    assert.equal(f.end.model, 'gpt-4o-mini-2024-07-18');
    assert.deepEqual(f.end.toolCalls, [{
      id: 'call_1', type: 'function', name: 'get_weather',
      arguments: '{"city":"Lisbon","unit":"celsius"}',
    }]);
    assert.deepEqual(f.end.verdicts.map((v) => v.verdict), ['Pass', 'Rewrite', 'Skipped']);
    assert.equal(f.end.refusal, false);
    assert.equal(f.end.systemFingerprint, 'fp_44709d6fcb');
    assert.equal(f.end.serviceTier, 'default');
  });

  test('response_end_refusal maps to a refusal', () => {
    const f = decode('response_end_refusal');
    assert.ok(f.kind === 'ResponseEnd');
    assert.equal(f.end.code, 'OK');
    assert.equal(f.end.refusal, true);
    assert.equal(f.end.content, "I can't help with that.");
    assert.equal(f.end.finishReason, 'content_filter');
    assert.equal(f.end.systemFingerprint, undefined);
  });

  test('response_end_error maps to a retryable DEADLINE_EXCEEDED', () => {
    const f = decode('response_end_error');
    assert.ok(f.kind === 'ResponseEnd');
    assert.equal(f.end.code, 'DEADLINE_EXCEEDED');
    assert.equal(f.end.status, 4);
    assert.equal(f.end.retryable, true);
    assert.equal(f.end.retryAfterMs, 250);
    assert.equal(f.end.origin, 'provider/mock');
  });

  test('stream and connection frames', () => {
    const chunk = decode('response_chunk');
    assert.ok(chunk.kind === 'ResponseChunk');
    assert.equal(chunk.chunk.delta, 'It is sunny');
    assert.deepEqual(chunk.chunk.toolCalls[1], { index: 1, arguments: '"Lisbon"}' });
    assert.equal(chunk.chunk.refusal, false);
    const refusal = decode('response_chunk_refusal');
    assert.ok(refusal.kind === 'ResponseChunk');
    assert.deepEqual(refusal.chunk, { seq: 0, delta: "I can't help with that.", toolCalls: [], refusal: true });
    const start = decode('response_start');
    assert.ok(start.kind === 'ResponseStart');
    assert.equal(start.start.systemFingerprint, 'fp_44709d6fcb');
    assert.equal(start.start.serviceTier, 'default');
    const ack = decode('hello_ack');
    assert.ok(ack.kind === 'HelloAck');
    assert.equal(ack.ack.maxConcurrentStreams, 1024);
    assert.equal(ack.ack.features, 15n);
    const goAway = decode('goaway');
    assert.ok(goAway.kind === 'GoAway');
    assert.equal(goAway.goAway.lastStreamId, 4294967297);
    const ping = decode('ping');
    assert.ok(ping.kind === 'Ping');
    assert.equal(ping.opaque, 9007199254740991n);
    const unknown = decode('unknown_body');
    assert.deepEqual(unknown, { streamId: 17, kind: 'Other', bodyType: 200 });
  });
});

describe('shared vectors: encode', () => {
  const encodable = vectors
    .map((v) => ({ v, frame: encodeFromDescription(v) }))
    .filter((e): e is { v: Vector; frame: Uint8Array } => e.frame !== null);

  test('covers every client-to-daemon body kind', () => {
    const kinds = new Set(encodable.map((e) => e.v.json['body_type']));
    for (const kind of ['Hello', 'Request', 'Cancel', 'Feedback', 'Ping', 'Pong']) {
      assert.ok(kinds.has(kind), `no encodable vector of kind ${kind}`);
    }
  });

  for (const { v, frame } of encodable) {
    test(`${v.name}: the SDK's encoding describes as ${v.name}.json`, () => {
      assert.deepEqual(describeFrame(frame), v.json);
    });
  }

  test('frame_describe agrees with what the SDK meant to send', {
    skip: frameDescribe ? false : 'OUTRIGGER_FRAME_DESCRIBE is not set (the C++ tool is not built)',
  }, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outrigger-ts-vectors-'));
    try {
      for (const { v, frame } of encodable) {
        const file = path.join(dir, `${v.name}.bin`);
        fs.writeFileSync(file, frame);
        const out = execFileSync(frameDescribe!, [file], { encoding: 'utf8', maxBuffer: 64 << 20 });
        assert.deepEqual(JSON.parse(out), v.json, `frame_describe ${v.name}`);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
