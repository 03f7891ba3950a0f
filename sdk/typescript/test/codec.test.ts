// Request building, frame checks, status names and metadata merging.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  allStatusCodes,
  decodeFrame,
  describeFrame,
  encodeRequest,
  FrameFormatError,
  mergeMetadata,
  OutriggerError,
  statusName,
  statusNumber,
  VERSION,
} from '../src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));

describe('request builder', () => {
  test('writes optional scalars that are explicitly zero', () => {
    // flatc 2.0.8's TypeScript code would skip these as "defaults"; unset must differ from 0.
    const frame = encodeRequest({
      streamId: 1, stream: false, timeoutMs: 0,
      request: {
        model: 'm', messages: [],
        params: { temperature: 0, topP: 0, maxTokens: 0, seed: 0 },
      },
    });
    const body = describeFrame(frame)['body'] as Record<string, unknown>;
    assert.deepEqual(body['params'], { temperature: 0, top_p: 0, max_tokens: 0, seed: 0 });
  });

  test('leaves unset optional scalars and tables out', () => {
    const frame = encodeRequest({
      streamId: 2, stream: true, timeoutMs: 1500,
      request: { model: 'm', messages: [{ role: 'user', content: 'hi' }], params: {} },
    });
    assert.deepEqual(describeFrame(frame), {
      stream_id: 2, body_type: 'Request',
      body: {
        model: 'm', messages: [{ role: 'user', content: 'hi' }], params: {}, stream: true,
        timeout_ms: 1500,
      },
    });
  });

  test('serialises object-valued JSON fields', () => {
    const frame = encodeRequest({
      streamId: 3, stream: false, timeoutMs: 0,
      request: {
        model: 'm', messages: [],
        params: {
          extra: { mock: { chunks: 2 } },
          tools: [{ name: 'f', parameters: { type: 'object' } }],
          responseFormat: { type: 'JsonSchema', schema: { type: 'string' }, strict: true },
          seed: -5n,
        },
      },
    });
    const params = (describeFrame(frame)['body'] as Record<string, unknown>)['params'];
    assert.deepEqual(params, {
      seed: -5,
      tools: [{ name: 'f', parameters_json: '{"type":"object"}' }],
      response_format: { type: 'JsonSchema', schema_json: '{"type":"string"}', strict: true },
      extra_json: '{"mock":{"chunks":2}}',
    });
  });

  test('rejects an unknown response format type', () => {
    assert.throws(() => encodeRequest({
      streamId: 1, stream: false, timeoutMs: 0,
      request: { model: 'm', messages: [], params: { responseFormat: { type: 'Yaml' as never } } },
    }), /unknown response format type/);
  });
});

describe('frame checks', () => {
  const good = encodeRequest({ streamId: 1, stream: false, timeoutMs: 0, request: { model: 'm', messages: [] } });

  test('a wrong file identifier is rejected', () => {
    const bad = good.slice(4);
    bad[4] = 'X'.charCodeAt(0);
    assert.throws(() => decodeFrame(bad), FrameFormatError);
  });

  test('a root offset past the end is rejected', () => {
    const bad = good.slice(4);
    new DataView(bad.buffer).setUint32(0, bad.length + 100, true);
    assert.throws(() => decodeFrame(bad), /root table offset out of range/);
  });

  test('a length prefix that disagrees with the bytes is rejected', () => {
    assert.throws(() => describeFrame(good.subarray(0, good.length - 1)), /length prefix/);
  });
});

describe('statuses and errors', () => {
  test('names follow the gRPC numbering', () => {
    assert.equal(statusName(0), 'OK');
    assert.equal(statusName(4), 'DEADLINE_EXCEEDED');
    assert.equal(statusName(14), 'UNAVAILABLE');
    assert.equal(statusName(16), 'UNAUTHENTICATED');
    assert.equal(statusName(99), 'UNKNOWN');
    assert.equal(statusNumber('RESOURCE_EXHAUSTED'), 8);
    assert.equal(allStatusCodes().length, 17);
  });

  test('OutriggerError carries the wire fields', () => {
    const err = new OutriggerError({
      code: 'UNAVAILABLE', retryable: true, retryAfterMs: 100, origin: 'provider/mock', message: 'down',
    });
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'OutriggerError');
    assert.equal(err.status, 14);
    assert.equal(err.message, 'UNAVAILABLE (provider/mock): down');
    assert.equal(err.detail, 'down');
  });
});

describe('metadata merge', () => {
  test('call fields win, tags merge, unset stays unset', () => {
    assert.equal(mergeMetadata(undefined, undefined), undefined);
    assert.deepEqual(mergeMetadata({ tenant: 't' }, undefined), { tenant: 't' });
    assert.deepEqual(
      mergeMetadata({ tenant: 't', user: 'a', tags: { x: '1' } }, { user: 'b', tags: { y: '2' } }),
      { tenant: 't', user: 'b', tags: { x: '1', y: '2' } },
    );
    assert.deepEqual(mergeMetadata({ tenant: 't' }, { user: 'u' }), { tenant: 't', user: 'u' });
  });
});

test('VERSION matches package.json', () => {
  const pkg = JSON.parse(fs.readFileSync(path.resolve(here, '../../package.json'), 'utf8')) as { version: string };
  assert.equal(VERSION, pkg.version);
});
