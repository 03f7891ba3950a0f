// Integration tests against the real daemon ($OUTRIGGER_BIN) on its embedded default config:
// one route whose provider is the mock, steered per request through params.extra.mock.

import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OutriggerClient, OutriggerError, type ChatRequest } from '../src/index.js';
import { Daemon, makeSocketDir, removeSocketDir, skipWithoutDaemon } from './support/daemon.js';
import { rejection } from './support/calls.js';

function ask(content: string, mock?: Record<string, unknown>): ChatRequest {
  const request: ChatRequest = { model: 'mock-1', messages: [{ role: 'user', content }] };
  if (mock !== undefined) request.params = { extra: { mock } };
  return request;
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

  test('SIGKILL under load: every call ends typed, none twice, and the client reconnects by itself', async () => {
    const dir = makeSocketDir();
    const socketPath = path.join(dir, 'o.sock');
    const client = new OutriggerClient({ socketPath, connectTimeoutMs: 10_000 });
    let daemon: Daemon | undefined;
    try {
      daemon = await Daemon.start(socketPath);
      await client.connect();
      const words = 'w0 w1 w2 w3 w4 w5 w6 w7 w8 w9';
      type Outcome = { name: string; content?: string; error?: unknown };
      const unary = Array.from({ length: 8 }, (_, i) => {
        const name = `unary ${i}`;
        return client.chat(ask(name, { latency_ms: 2000 })).then(
          (res): Outcome => ({ name, content: res.content }),
          (error: unknown): Outcome => ({ name, error }));
      });
      const streams = Array.from({ length: 8 }, (_, i) =>
        client.stream(ask(words, { chunks: 10, chunk_interval_ms: 200 })));
      // Each stream has received a chunk, read through its iterator, before the kill.
      const iterators = streams.map((s) => s[Symbol.asyncIterator]());
      const first = await Promise.all(iterators.map((it) => it.next()));
      assert.ok(first.every((r) => r.done === false), 'every stream received a chunk');
      const readRest = iterators.map(async (it, i): Promise<Outcome> => {
        const name = `stream ${i}`;
        let content = (first[i]!.value as { delta: string }).delta;
        try {
          for (let r = await it.next(); r.done !== true; r = await it.next()) content += r.value.delta;
          return { name, content };
        } catch (error) {
          return { name, error };
        }
      });
      assert.equal(client.stats.inFlight, 16);

      await daemon.kill();
      daemon = undefined;
      const killedAt = performance.now();
      let bound: ReturnType<typeof setTimeout> | undefined;
      const outcomes = await Promise.race([
        Promise.all([...unary, ...readRest]),
        new Promise<never>((_, reject) => {
          bound = setTimeout(() => reject(new Error('calls still waiting 3 s after SIGKILL')), 3000);
        }),
      ]).finally(() => clearTimeout(bound));
      assert.ok(performance.now() - killedAt < 3000);

      const names = new Set(outcomes.map((o) => o.name));
      assert.equal(names.size, 16, 'each call ended once');
      let successes = 0;
      let failures = 0;
      for (const o of outcomes) {
        if (o.error === undefined) {
          successes++;
          // An answer is whole, never cut short.
          assert.equal(o.content, o.name.startsWith('stream') ? words : o.name, o.name);
          continue;
        }
        failures++;
        assert.ok(o.error instanceof OutriggerError, `${o.name}: ${String(o.error)}`);
        assert.equal(o.error.code, 'UNAVAILABLE', `${o.name}: ${o.error.message}`);
        assert.equal(o.error.retryable, true, `${o.name}: ${o.error.message}`);
      }
      assert.equal(successes + failures, 16);
      assert.ok(failures > 0, 'every call succeeded: the daemon was killed too late to test anything');
      for (const s of streams) {
        assert.ok(s.ended);
        const end = await s.finalResponse().then(() => undefined, (err: unknown) => err);
        if (end !== undefined) {
          assert.ok(end instanceof OutriggerError && end.code === 'UNAVAILABLE' && end.retryable,
            `the stream's end says ${String(end)}`);
        }
      }
      assert.equal(client.stats.inFlight, 0);
      assert.equal(client.stats.connects, 1);

      // Calls made while nothing listens wait for a daemon (within connectTimeoutMs)...
      const late = Array.from({ length: 4 }, (_, i) => client.chat(ask(`while down ${i}`)));
      assert.equal(client.stats.queued, 4);
      // ...which starts on the same path, after the killed one's socket file.
      daemon = await Daemon.start(socketPath);
      assert.deepEqual((await Promise.all(late)).map((r) => r.content),
        ['while down 0', 'while down 1', 'while down 2', 'while down 3']);
      assert.equal((await client.chat(ask('after'))).content, 'after');
      assert.equal((await client.stream(ask('s t r', { chunks: 3 })).finalResponse()).content, 's t r');
      assert.equal(client.stats.connects, 2, 'the client reconnected once, by itself');
      assert.equal(client.stats.goAways, 0, 'a killed daemon says nothing');
    } finally {
      client.close();
      await daemon?.stop();
      removeSocketDir(dir);
    }
  });
});
