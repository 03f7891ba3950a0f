// Integration tests against the real daemon ($OUTRIGGER_BIN) on its embedded default config:
// one route whose provider is the mock, steered per request through params.extra.mock.

import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OutriggerClient, OutriggerError, type ChatRequest } from '../src/index.js';
import { Daemon, makeSocketDir, removeSocketDir, skipWithoutDaemon } from './support/daemon.js';

function ask(content: string, mock?: Record<string, unknown>): ChatRequest {
  const request: ChatRequest = { model: 'mock-1', messages: [{ role: 'user', content }] };
  if (mock !== undefined) request.params = { extra: { mock } };
  return request;
}

async function rejection(p: Promise<unknown>): Promise<OutriggerError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof OutriggerError, `expected OutriggerError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the call to fail');
}

describe('against the daemon', { skip: skipWithoutDaemon }, () => {
  let dir: string;
  let daemon: Daemon;
  let client: OutriggerClient;

  before(async () => {
    dir = makeSocketDir();
    daemon = await Daemon.start(path.join(dir, 'o.sock'));
    client = new OutriggerClient({ socketPath: daemon.socketPath });
  });

  after(async () => {
    client?.close();
    if (daemon !== undefined) assert.equal(await daemon.stop(), 0, 'the daemon exits 0 on SIGTERM');
    if (dir !== undefined) removeSocketDir(dir);
  });

  test('handshake', async () => {
    const info = await client.connect();
    assert.equal(info.protoMajor, 1);
    assert.ok(info.maxFrameSize > 0 && info.maxFrameSize <= 4 << 20, `max_frame_size ${info.maxFrameSize}`);
    assert.equal(info.features & 15n, 15n, 'the daemon supports streaming, cancel, feedback, GoAway');
  });

  test('unary: the mock echoes the last user message', async () => {
    const res = await client.chat({
      model: 'mock-1',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'first question' },
        { role: 'assistant', content: 'an answer' },
        { role: 'user', content: 'the real question here' },
      ],
    });
    assert.equal(res.content, 'the real question here');
    assert.equal(res.finishReason, 'stop');
    assert.ok(res.usage !== undefined, 'usage is reported');
    assert.ok(res.usage.promptTokens > 0 && res.usage.completionTokens > 0, JSON.stringify(res.usage));
  });

  test('streaming: chunks arrive in order and add up to the answer', async () => {
    const stream = client.stream(ask('one two three four five six', { chunks: 5 }));
    const chunks: string[] = [];
    const seqs: number[] = [];
    for await (const chunk of stream) {
      chunks.push(chunk.delta);
      seqs.push(chunk.seq);
    }
    assert.equal(chunks.length, 5);
    assert.deepEqual([...seqs].sort((a, b) => a - b), seqs, 'seq increases');
    assert.equal(chunks.join(''), 'one two three four five six');
    const res = await stream.finalResponse();
    assert.equal(res.content, 'one two three four five six');
    assert.equal(res.finishReason, 'stop');
    await stream.start(); // ResponseStart arrived
  });

  test('200 concurrent calls share one connection', async () => {
    const connectsBefore = client.stats.connects;
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) => client.chat(ask(`question number ${i}`))));
    answers.forEach((a, i) => assert.equal(a.content, `question number ${i}`));
    assert.equal(client.stats.connects, connectsBefore);
    assert.equal(client.stats.connections, 1);
    assert.equal(client.stats.inFlight, 0);
  });

  test('cancel mid-stream ends the stream with CANCELLED from the daemon', async () => {
    const stream = client.stream(ask('a b c d e f g h i j', { chunks: 10, chunk_interval_ms: 100 }));
    const seen: string[] = [];
    const err = await rejection((async () => {
      for await (const chunk of stream) {
        seen.push(chunk.delta);
        if (seen.length === 2) stream.cancel('enough');
      }
    })());
    assert.equal(err.code, 'CANCELLED');
    assert.ok(seen.length >= 2 && seen.length < 10, `received ${seen.length} chunks`);
    // A stream is unregistered only by its ResponseEnd: the daemon confirmed the cancel.
    assert.equal(client.stats.inFlight, 0);
  });

  test('AbortSignal cancels a call that would never answer', async () => {
    const ac = new AbortController();
    const call = client.chat(ask('x', { hang: true }), { signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    const err = await rejection(call);
    assert.equal(err.code, 'CANCELLED');
    assert.equal(client.stats.inFlight, 0, 'the daemon ended the stream');
  });

  test('deadline: timeout_ms ends a hanging call with DEADLINE_EXCEEDED', async () => {
    const patient = new OutriggerClient({ socketPath: daemon.socketPath, deadlineGraceMs: 2000 });
    try {
      const started = performance.now();
      const err = await rejection(patient.chat(ask('x', { hang: true }), { timeoutMs: 300 }));
      const elapsed = performance.now() - started;
      assert.equal(err.code, 'DEADLINE_EXCEEDED');
      assert.notEqual(err.origin, 'client', 'the daemon enforced timeout_ms');
      assert.ok(elapsed >= 250 && elapsed < 2000, `ended after ${elapsed.toFixed(0)} ms`);
    } finally {
      patient.close();
    }
  });

  test('errors: mock failures map to typed errors', async () => {
    const cases = [
      { code: 'UNAVAILABLE', retryable: true, retry_after_ms: 250 },
      { code: 'PERMISSION_DENIED', retryable: false, retry_after_ms: 0 },
      { code: 'RESOURCE_EXHAUSTED', retryable: true, retry_after_ms: 1500 },
      { code: 'INVALID_ARGUMENT', retryable: false, retry_after_ms: 0 },
    ] as const;
    for (const c of cases) {
      const err = await rejection(client.chat(ask('x', {
        fail: { ...c, message: `mock says ${c.code}` },
      })));
      assert.equal(err.code, c.code);
      assert.equal(err.retryable, c.retryable, `${c.code} retryable`);
      assert.equal(err.retryAfterMs, c.retry_after_ms, `${c.code} retry_after_ms`);
      assert.match(err.detail, new RegExp(`mock says ${c.code}`));
      assert.ok(err.origin.length > 0, `${c.code} names an origin`);
    }
  });

  test('a cut stream is an error, never a silent success', async () => {
    const stream = client.stream(ask('a b c d e f', { chunks: 6, cut_after_chunks: 2 }));
    const seen: string[] = [];
    const err = await rejection((async () => {
      for await (const chunk of stream) seen.push(chunk.delta);
    })());
    assert.equal(err.code, 'UNAVAILABLE');
    assert.equal(seen.length, 2);
  });

  test('metadata: client defaults and per-call values reach the daemon', async () => {
    const tagged = new OutriggerClient({
      socketPath: daemon.socketPath,
      metadata: { tenant: 'acme', user: 'default-user', tags: { env: 'test', team: 'core' } },
    });
    try {
      const res = await tagged.chat({
        ...ask('x', { echo_metadata: true }),
        metadata: {
          user: 'u-42', session: 's-1', requestId: 'req-7', promptId: 'triage', promptVersion: 'v3',
          tags: { team: 'billing' },
        },
      });
      assert.deepEqual(JSON.parse(res.content), {
        tenant: 'acme', user: 'u-42', session: 's-1', request_id: 'req-7',
        prompt_id: 'triage', prompt_version: 'v3', tags: { env: 'test', team: 'billing' },
      });
    } finally {
      tagged.close();
    }
  });

  test('server verification: the daemon of the same user passes, an unexpected uid is refused', async () => {
    const verified = new OutriggerClient({ socketPath: daemon.socketPath, verifyServer: true });
    const stranger = process.geteuid!() + 12345;
    const refused = new OutriggerClient({ socketPath: daemon.socketPath, expectedServerUid: stranger });
    try {
      assert.equal((await verified.chat(ask('verified'))).content, 'verified');
      const err = await rejection(refused.chat(ask('not for a stranger')));
      assert.equal(err.code, 'PERMISSION_DENIED');
      assert.equal(err.retryable, false);
      assert.match(err.detail, new RegExp(`trusted uids ${stranger}$`));
    } finally {
      verified.close();
      refused.close();
    }
  });

  test('feedback on an answer is accepted', async () => {
    const res = await client.chat(ask('rate me'));
    assert.ok(res.traceId, 'the response carries a trace id');
    await client.feedback(res.traceId, 0.8, { comment: 'helpful' });
  });
});

describe('daemon restart', { skip: skipWithoutDaemon }, () => {
  test('the same client survives SIGTERM, GoAway and a new daemon on the same path', async () => {
    const dir = makeSocketDir();
    const socketPath = path.join(dir, 'o.sock');
    const client = new OutriggerClient({ socketPath, connectTimeoutMs: 10_000 });
    let daemon: Daemon | undefined;
    try {
      daemon = await Daemon.start(socketPath);
      assert.equal((await client.chat(ask('before'))).content, 'before');

      // A stream in flight when SIGTERM arrives drains to a normal end.
      const slow = client.stream(ask('s l o w', { chunks: 4, chunk_interval_ms: 100 }));
      await slow.start();
      const exit = daemon.stop();
      const drained = await slow.finalResponse();
      assert.equal(drained.content, 's l o w');
      assert.equal(await exit, 0, `the daemon exits 0 on SIGTERM:\n${daemon.output}`);
      daemon = undefined;

      // A call made while no daemon is listening waits in the queue for the next one.
      const queued = client.chat(ask('during the gap'));
      daemon = await Daemon.start(socketPath);
      assert.equal((await queued).content, 'during the gap');
      assert.equal((await client.chat(ask('after'))).content, 'after');
      assert.equal(client.stats.goAways, 1, 'the daemon announced its shutdown');
      assert.equal(client.stats.connects, 2);
    } finally {
      client.close();
      await daemon?.stop();
      removeSocketDir(dir);
    }
  });
});
