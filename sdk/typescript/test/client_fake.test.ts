// Client behaviour against a scripted fake daemon: handshake, multiplexing, flow control,
// deadlines, cancellation, reconnection and frame limits.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { OutriggerClient, OutriggerError } from '../src/index.js';
import * as wire from '../src/generated/outrigger_generated.js';
import {
  chunkFrame,
  echo,
  endFrame,
  errorFrame,
  FakeDaemon,
  goAwayFrame,
  lastContent,
  startFrame,
  type ReceivedRequest,
} from './support/fake_daemon.js';
import { rejection, sleep, user } from './support/calls.js';

describe('handshake and unary calls', () => {
  let daemon: FakeDaemon;
  let client: OutriggerClient;
  before(async () => {
    daemon = await FakeDaemon.start();
    client = new OutriggerClient({ socketPath: daemon.socketPath });
  });
  after(async () => {
    client.close();
    await daemon.stop();
  });

  test('sends Hello first, then answers a unary call', async () => {
    const res = await client.chat(user('hello there'));
    assert.equal(res.content, 'hello there');
    assert.equal(res.origin, 'provider/fake');
    assert.equal(res.finishReason, 'stop');
    const frames = daemon.connections[0]!.frames;
    assert.deepEqual(frames[0], {
      stream_id: 0,
      body_type: 'Hello',
      body: {
        proto_major: 1, proto_minor: 0, client_name: '@outrigger/client', client_version: '0.1.0',
        sdk_language: 'typescript', max_frame_size: 4194304, features: 15,
      },
    });
    assert.deepEqual(frames[1], {
      stream_id: 1,
      body_type: 'Request',
      body: {
        model: 'mock-1', messages: [{ role: 'user', content: 'hello there' }], stream: false,
        timeout_ms: 0,
      },
    });
  });

  test('exposes the HelloAck', async () => {
    const info = await client.connect();
    assert.equal(info.serverVersion, 'fake-0');
    assert.equal(info.protoMajor, 1);
    assert.equal(client.serverInfo?.maxFrameSize, 4 << 20);
  });

  test('multiplexes 200 concurrent calls on one connection with increasing stream ids', async () => {
    const before = daemon.requests.length;
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) => client.chat(user(`q${i}`))));
    assert.deepEqual(answers.map((a) => a.content), Array.from({ length: 200 }, (_, i) => `q${i}`));
    const ids = daemon.requests.slice(before).map((r) => r.streamId);
    assert.equal(ids.length, 200);
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!, 'ids increase');
    assert.equal(daemon.connections.length, 1);
    assert.equal(client.stats.connects, 1);
    assert.equal(client.stats.inFlight, 0);
  });

  test('sends feedback on a fresh stream and awaits its end', async () => {
    await client.feedback('trace-9', 0.5, { comment: 'good' });
    const frame = daemon.connections[0]!.frames.at(-1)!;
    assert.equal(frame['body_type'], 'Feedback');
    assert.deepEqual(frame['body'], { trace_id: 'trace-9', score: 0.5, comment: 'good' });
  });
});

describe('streaming', () => {
  test('yields chunks, then the assembled response', async () => {
    const daemon = await FakeDaemon.start({
      onRequest: (req, d) => {
        req.conn.send(startFrame(req.streamId, 'tr-1'),
          chunkFrame(req.streamId, 0, 'one '), chunkFrame(req.streamId, 1, 'two'));
        d.end(req, { origin: 'provider/fake', traceId: 'tr-1' });
      },
    });
    const client = new OutriggerClient({ socketPath: daemon.socketPath });
    try {
      const stream = client.stream(user('x'));
      const deltas: string[] = [];
      for await (const chunk of stream) deltas.push(chunk.delta);
      assert.deepEqual(deltas, ['one ', 'two']);
      const start = await stream.start();
      assert.equal(start.provider, 'provider/fake');
      const res = await stream.finalResponse();
      assert.equal(res.content, 'one two');
      assert.equal(res.traceId, 'tr-1');
      assert.equal(res.provider, 'provider/fake');
      assert.equal(daemon.requests[0]!.body['stream'], true);
    } finally {
      client.close();
      await daemon.stop();
    }
  });

  test('surfaces refusal chunks, the refusal and the upstream\'s fingerprint and tier', async () => {
    const daemon = await FakeDaemon.start({
      onRequest: (req, d) => {
        if (req.body['stream'] !== true) {
          d.end(req, {
            content: 'No.', origin: 'provider/fake', finishReason: 'content_filter', refusal: true,
            systemFingerprint: 'fp_unary', serviceTier: 'priority',
          });
          return;
        }
        req.conn.send(startFrame(req.streamId, 'tr-1', { systemFingerprint: 'fp_start', serviceTier: 'flex' }),
          chunkFrame(req.streamId, 0, 'Sure, '), chunkFrame(req.streamId, 1, 'I can\'t help with that.', true));
        d.end(req, {
          origin: 'provider/fake', finishReason: 'content_filter', refusal: true,
          systemFingerprint: 'fp_end', serviceTier: 'default',
        });
      },
    });
    const client = new OutriggerClient({ socketPath: daemon.socketPath });
    try {
      const stream = client.stream(user('x'));
      const refusals: boolean[] = [];
      for await (const chunk of stream) refusals.push(chunk.refusal);
      assert.deepEqual(refusals, [false, true]);
      const start = await stream.start();
      assert.equal(start.systemFingerprint, 'fp_start');
      assert.equal(start.serviceTier, 'flex');
      const res = await stream.finalResponse();
      assert.equal(res.refusal, true);
      assert.equal(res.finishReason, 'content_filter');
      assert.equal(res.content, 'Sure, I can\'t help with that.');
      assert.equal(res.systemFingerprint, 'fp_end', 'the end\'s value wins');
      assert.equal(res.serviceTier, 'default');

      const unary = await client.chat(user('y'));
      assert.equal(unary.refusal, true);
      assert.equal(unary.content, 'No.');
      assert.equal(unary.systemFingerprint, 'fp_unary');
      assert.equal(unary.serviceTier, 'priority');
    } finally {
      client.close();
      await daemon.stop();
    }
  });

  test('a streamed response keeps the start\'s fingerprint and tier when the end has none', async () => {
    const daemon = await FakeDaemon.start({
      onRequest: (req, d) => {
        if (req.body['stream'] !== true) {
          echo(req, d);
          return;
        }
        req.conn.send(startFrame(req.streamId, 'tr-1', { systemFingerprint: 'fp_start', serviceTier: 'flex' }),
          chunkFrame(req.streamId, 0, 'ok'));
        d.end(req, { origin: 'provider/fake' });
      },
    });
    const client = new OutriggerClient({ socketPath: daemon.socketPath });
    try {
      const res = await client.stream(user('x')).finalResponse();
      assert.equal(res.refusal, false);
      assert.equal(res.systemFingerprint, 'fp_start');
      assert.equal(res.serviceTier, 'flex');
      const plain = await client.chat(user('y'));
      assert.equal(plain.refusal, false);
      assert.equal(plain.systemFingerprint, undefined);
      assert.equal(plain.serviceTier, undefined);
    } finally {
      client.close();
      await daemon.stop();
    }
  });

  test('breaking out of the loop sends Cancel', async () => {
    const daemon = await FakeDaemon.start({
      onRequest: (req) => req.conn.send(startFrame(req.streamId), chunkFrame(req.streamId, 0, 'a')),
    });
    const client = new OutriggerClient({ socketPath: daemon.socketPath });
    try {
      const stream = client.stream(user('x'));
      for await (const chunk of stream) {
        assert.equal(chunk.delta, 'a');
        break;
      }
      const err = await rejection(stream.finalResponse());
      assert.equal(err.code, 'CANCELLED');
      assert.equal(err.origin, 'sidecar/fake', 'the daemon confirmed the cancel');
      assert.deepEqual(daemon.connections[0]!.cancelled, [1]);
      assert.equal(client.stats.inFlight, 0);
    } finally {
      client.close();
      await daemon.stop();
    }
  });
});

describe('metadata', () => {
  test('per-call metadata merges over client defaults', async () => {
    const daemon = await FakeDaemon.start();
    const client = new OutriggerClient({
      socketPath: daemon.socketPath,
      metadata: { tenant: 'acme', user: 'u1', tags: { env: 'test', team: 'a' } },
    });
    try {
      await client.chat({ ...user('x'), metadata: { user: 'u2', requestId: 'r-1', tags: { team: 'b' } } });
      await client.chat(user('y'));
      assert.deepEqual(daemon.requests[0]!.body['metadata'], {
        tenant: 'acme', user: 'u2', request_id: 'r-1',
        tags: [{ key: 'env', value: 'test' }, { key: 'team', value: 'b' }],
      });
      assert.deepEqual(daemon.requests[1]!.body['metadata'], {
        tenant: 'acme', user: 'u1',
        tags: [{ key: 'env', value: 'test' }, { key: 'team', value: 'a' }],
      });
    } finally {
      client.close();
      await daemon.stop();
    }
  });

  test('an empty field on a call is unset and keeps the default, as in every SDK', async () => {
    const daemon = await FakeDaemon.start();
    const client = new OutriggerClient({ socketPath: daemon.socketPath, metadata: { tenant: 'acme', user: 'u1' } });
    try {
      await client.chat({ ...user('x'), metadata: { tenant: '', user: 'u2', session: '' } });
      assert.deepEqual(daemon.requests[0]!.body['metadata'], { tenant: 'acme', user: 'u2' });
    } finally {
      client.close();
      await daemon.stop();
    }
  });
});

describe('errors', () => {
  test('maps a ResponseEnd status to a typed error', async () => {
    const daemon = await FakeDaemon.start({
      onRequest: (req, d) => d.end(req, {
        status: wire.Status.RESOURCE_EXHAUSTED, retryable: true, retryAfterMs: 250,
        origin: 'router/limits', message: 'tenant over budget', traceId: 't-7',
      }),
    });
    const client = new OutriggerClient({ socketPath: daemon.socketPath });
    try {
      const err = await rejection(client.chat(user('x')));
      assert.equal(err.code, 'RESOURCE_EXHAUSTED');
      assert.equal(err.status, 8);
      assert.equal(err.retryable, true);
      assert.equal(err.retryAfterMs, 250);
      assert.equal(err.origin, 'router/limits');
      assert.equal(err.detail, 'tenant over budget');
      assert.equal(err.traceId, 't-7');
      assert.match(err.message, /RESOURCE_EXHAUSTED \(router\/limits\): tenant over budget/);
    } finally {
      client.close();
      await daemon.stop();
    }
  });

  test('reachedProvider comes through on answers and errors', async () => {
    const daemon = await FakeDaemon.start({
      onRequest: (req, d) => {
        const text = lastContent(req.body);
        if (text === 'fail') d.end(req, { status: wire.Status.INTERNAL, reachedProvider: true });
        else d.end(req, { content: text, reachedProvider: text === 'provider' });
      },
    });
    const client = new OutriggerClient({ socketPath: daemon.socketPath });
    try {
      assert.equal((await client.chat(user('provider'))).reachedProvider, true);
      assert.equal((await client.chat(user('cache'))).reachedProvider, false);
      assert.equal((await rejection(client.chat(user('fail')))).reachedProvider, true);
    } finally {
      client.close();
      await daemon.stop();
    }
  });

  test('a handshake Error fails calls with its status and the supported range', async () => {
    const daemon = await FakeDaemon.start({
      handshake: errorFrame(wire.Status.FAILED_PRECONDITION, 'unsupported protocol', 2, 3),
    });
    const client = new OutriggerClient({ socketPath: daemon.socketPath });
    try {
      const err = await rejection(client.chat(user('x')));
      assert.equal(err.code, 'FAILED_PRECONDITION');
      assert.equal(err.origin, 'sidecar/handshake');
      assert.equal(err.retryable, false);
      assert.match(err.detail, /unsupported protocol.*2\.\.3/);
    } finally {
      client.close();
      await daemon.stop();
    }
  });

  test('no daemon: queued calls fail UNAVAILABLE after connectTimeoutMs', async () => {
    const client = new OutriggerClient({ socketPath: '/nonexistent/o.sock', connectTimeoutMs: 150 });
    const started = performance.now();
    const err = await rejection(client.chat(user('x')));
    assert.equal(err.code, 'UNAVAILABLE');
    assert.equal(err.retryable, true);
    assert.equal(err.origin, 'client/connection');
    assert.ok(performance.now() - started >= 140);
    client.close();
  });
});

describe('deadlines and cancellation', () => {
  let daemon: FakeDaemon;
  let pending: ReceivedRequest[];
  before(async () => {
    daemon = await FakeDaemon.start({ onRequest: (req) => pending.push(req) });
  });
  after(async () => daemon.stop());

  test('timeoutMs is sent and enforced locally when the daemon never answers', async () => {
    pending = [];
    const client = new OutriggerClient({ socketPath: daemon.socketPath, deadlineGraceMs: 20 });
    try {
      const started = performance.now();
      const err = await rejection(client.chat(user('x'), { timeoutMs: 100 }));
      const elapsed = performance.now() - started;
      assert.equal(err.code, 'DEADLINE_EXCEEDED');
      assert.equal(err.origin, 'client');
      assert.ok(elapsed >= 100 && elapsed < 2000, `elapsed ${elapsed}`);
      const sent = pending[0]!.body['timeout_ms'] as number;
      assert.ok(sent > 0 && sent <= 100, `timeout_ms ${sent}`);
      await daemon.until(() => pending[0]!.conn.cancelled.length === 1, 'Cancel');
      await daemon.until(() => client.stats.inFlight === 0, 'the daemon to end the stream');
    } finally {
      client.close();
    }
  });

  test('a timeout of 2^31 ms or more is effectively none: never fired early, clamped on the wire', async () => {
    pending = [];
    const warnings: string[] = [];
    const onWarning = (w: Error): void => { warnings.push(w.name); };
    process.on('warning', onWarning);
    const client = new OutriggerClient({ socketPath: daemon.socketPath, deadlineGraceMs: 20 });
    try {
      const timeouts = [3e9, 1e12];
      const calls = timeouts.map((timeoutMs) => client.chat(user(String(timeoutMs)), { timeoutMs }));
      await daemon.until(() => pending.length === 2, 'the requests');
      await sleep(300); // well past the 1 ms that setTimeout makes of a delay of 2^31 ms or more
      for (const req of pending) daemon.end(req, { content: lastContent(req.body) });
      assert.deepEqual(await Promise.all(calls).then((rs) => rs.map((r) => r.content)), timeouts.map(String));
      const sent = pending.map((req) => req.body['timeout_ms'] as number);
      assert.ok(sent[0]! > 3e9 - 1000 && sent[0]! <= 3e9, `timeout_ms ${sent[0]}`);
      assert.equal(sent[1], 0xffffffff, 'the largest timeout_ms the wire can carry');
      assert.deepEqual(warnings, []);
    } finally {
      process.off('warning', onWarning);
      client.close();
    }
  });

  test("the daemon's DEADLINE_EXCEEDED wins when it arrives first", async () => {
    pending = [];
    const client = new OutriggerClient({ socketPath: daemon.socketPath });
    try {
      const call = client.chat(user('x'), { timeoutMs: 5000 });
      await daemon.until(() => pending.length === 1, 'the request');
      daemon.end(pending[0]!, { status: wire.Status.DEADLINE_EXCEEDED, origin: 'provider/mock' });
      const err = await rejection(call);
      assert.equal(err.code, 'DEADLINE_EXCEEDED');
      assert.equal(err.origin, 'provider/mock');
    } finally {
      client.close();
    }
  });

  test('abort sends Cancel and reports the daemon-confirmed CANCELLED', async () => {
    pending = [];
    const client = new OutriggerClient({ socketPath: daemon.socketPath });
    try {
      const ac = new AbortController();
      const call = client.chat(user('x'), { signal: ac.signal });
      await daemon.until(() => pending.length === 1, 'the request');
      ac.abort();
      const err = await rejection(call);
      assert.equal(err.code, 'CANCELLED');
      assert.equal(err.origin, 'sidecar/fake');
      assert.deepEqual(pending[0]!.conn.cancelled, [pending[0]!.streamId]);
    } finally {
      client.close();
    }
  });

  test('an already aborted signal fails at once and sends nothing', async () => {
    pending = [];
    const client = new OutriggerClient({ socketPath: daemon.socketPath });
    const err = await rejection(client.chat(user('x'), { signal: AbortSignal.abort() }));
    assert.equal(err.code, 'CANCELLED');
    assert.equal(err.origin, 'client');
    assert.equal(client.stats.connects, 0);
    client.close();
  });

  test('a cancel the daemon does not confirm ends after cancelGraceMs', async () => {
    pending = [];
    const quiet = await FakeDaemon.start({ onRequest: (req) => pending.push(req), answerCancel: false });
    const client = new OutriggerClient({ socketPath: quiet.socketPath, cancelGraceMs: 50 });
    try {
      const ac = new AbortController();
      const call = client.chat(user('x'), { signal: ac.signal });
      await quiet.until(() => pending.length === 1, 'the request');
      ac.abort();
      const err = await rejection(call);
      assert.equal(err.code, 'CANCELLED');
      assert.equal(err.origin, 'client');
      assert.equal(client.stats.inFlight, 1, 'the stream stays registered until the daemon ends it');
    } finally {
      client.close();
      await quiet.stop();
    }
  });
});

describe('flow control', () => {
  test('respects max_concurrent_streams and bounds the queue', async () => {
    const pending: ReceivedRequest[] = [];
    const daemon = await FakeDaemon.start({
      ack: { maxConcurrentStreams: 2 },
      onRequest: (req) => pending.push(req),
    });
    const client = new OutriggerClient({ socketPath: daemon.socketPath, maxQueuedCalls: 3 });
    try {
      await client.connect(); // otherwise all five wait for the connection in the queue
      const calls = Array.from({ length: 5 }, (_, i) => client.chat(user(`c${i}`)));
      await daemon.until(() => pending.length === 2, 'two requests');
      assert.equal(client.stats.queued, 3);
      const overflow = await rejection(client.chat(user('too many')));
      assert.equal(overflow.code, 'RESOURCE_EXHAUSTED');
      assert.equal(overflow.origin, 'client');
      // Each end frees a slot for the next queued call.
      for (let answered = 0; answered < 5; answered++) {
        await daemon.until(() => pending.length > answered, `request ${answered}`);
        assert.ok(pending.length - answered <= 2, 'never more than two in flight');
        const req = pending[answered]!;
        daemon.end(req, { content: lastContent(req.body) });
      }
      const answers = await Promise.all(calls);
      assert.deepEqual(answers.map((a) => a.content), ['c0', 'c1', 'c2', 'c3', 'c4']);
    } finally {
      client.close();
      await daemon.stop();
    }
  });

  test('a request over the negotiated frame size fails INVALID_ARGUMENT unsent', async () => {
    const daemon = await FakeDaemon.start({ ack: { maxFrameSize: 1024 } });
    const client = new OutriggerClient({ socketPath: daemon.socketPath });
    try {
      const err = await rejection(client.chat(user('x'.repeat(4096))));
      assert.equal(err.code, 'INVALID_ARGUMENT');
      assert.match(err.detail, /max_frame_size of 1024/);
      assert.equal(daemon.requests.length, 0);
      assert.equal((await client.chat(user('small'))).content, 'small');
    } finally {
      client.close();
      await daemon.stop();
    }
  });

  test('stream ids strictly increase and are never reused, whatever happens to the calls', async () => {
    const daemon = await FakeDaemon.start({
      ack: { maxFrameSize: 1024 },
      onRequest: (req, d) => {
        if (lastContent(req.body) !== 'never answered') echo(req, d);
      },
    });
    const client = new OutriggerClient({ socketPath: daemon.socketPath });
    try {
      await client.chat(user('one'));
      assert.equal((await rejection(client.chat(user('x'.repeat(4096))))).code, 'INVALID_ARGUMENT');
      const controller = new AbortController();
      const aborted = client.chat(user('never answered'), { signal: controller.signal });
      await daemon.until(() => daemon.requests.length === 2, 'the unanswered request');
      controller.abort();
      assert.equal((await rejection(aborted)).code, 'CANCELLED');
      await client.feedback('trace-1', 1);
      await client.chat(user('last'));
      const ids = daemon.connections[0]!.frames
        .filter((f) => f['body_type'] === 'Request' || f['body_type'] === 'Feedback')
        .map((f) => f['stream_id'] as number);
      assert.equal(ids.length, 4);
      assert.equal(ids[0], 1);
      for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!, `stream ids ${ids.join(', ')}`);
    } finally {
      client.close();
      await daemon.stop();
    }
  });
});

describe('connection loss and GoAway', () => {
  test('an oversized inbound frame drops the connection; the client reconnects', async () => {
    let first = true;
    const daemon = await FakeDaemon.start({
      ack: { maxFrameSize: 1024 },
      onRequest: (req, d) => {
        if (!first) return echo(req, d);
        first = false;
        const prefix = Buffer.alloc(4);
        prefix.writeUInt32LE(2048);
        req.conn.send(prefix);
      },
    });
    const client = new OutriggerClient({ socketPath: daemon.socketPath });
    try {
      const err = await rejection(client.chat(user('x')));
      assert.equal(err.code, 'UNAVAILABLE');
      assert.equal(err.retryable, true);
      assert.match(err.detail, /2048 exceeds the negotiated maximum of 1024/);
      assert.equal((await client.chat(user('again'))).content, 'again');
      assert.equal(client.stats.connects, 2);
    } finally {
      client.close();
      await daemon.stop();
    }
  });

  test('a dropped connection fails sent calls and keeps unsent ones', async () => {
    const pending: ReceivedRequest[] = [];
    const daemon = await FakeDaemon.start({
      ack: { maxConcurrentStreams: 1 },
      onRequest: (req, d) => (d.connections.length === 1 ? pending.push(req) : echo(req, d)),
    });
    const client = new OutriggerClient({ socketPath: daemon.socketPath });
    try {
      const sent = client.chat(user('sent'));
      const unsent = client.chat(user('unsent'));
      await daemon.until(() => pending.length === 1, 'the first request');
      assert.equal(client.stats.queued, 1);
      pending[0]!.conn.drop();
      const err = await rejection(sent);
      assert.equal(err.code, 'UNAVAILABLE');
      assert.equal(err.retryable, true);
      assert.equal(err.origin, 'client/connection');
      assert.equal((await unsent).content, 'unsent');
      assert.equal(daemon.connections.length, 2);
    } finally {
      client.close();
      await daemon.stop();
    }
  });

  test('GoAway: streams above last_stream_id are retried on a new connection', async () => {
    const held: ReceivedRequest[] = [];
    const daemon = await FakeDaemon.start({
      onRequest: (req, d) => {
        if (d.connections.length > 1) return echo(req, d);
        held.push(req);
        if (held.length === 3) {
          // Stream 1 was taken; 2 and 3 arrived "after" the GoAway and are refused.
          req.conn.send(goAwayFrame(1));
          for (const r of held.slice(1)) {
            d.end(r, { status: wire.Status.UNAVAILABLE, retryable: true, message: 'draining' });
          }
          d.end(held[0]!, { content: 'first' });
        }
      },
    });
    const client = new OutriggerClient({ socketPath: daemon.socketPath });
    try {
      const answers = await Promise.all(['a', 'b', 'c'].map((t) => client.chat(user(t))));
      assert.deepEqual(answers.map((a) => a.content), ['first', 'b', 'c']);
      assert.equal(client.stats.connects, 2);
      assert.equal(client.stats.goAways, 1);
      await daemon.until(() => client.stats.connections === 1, 'the drained connection to close');
    } finally {
      client.close();
      await daemon.stop();
    }
  });

  test('a daemon that turns every stream away is redialled with backoff', async () => {
    const daemon = await FakeDaemon.start({
      afterHello: (conn, d) => {
        if (d.connections.length <= 3) conn.send(goAwayFrame(0));
      },
    });
    const client = new OutriggerClient({ socketPath: daemon.socketPath });
    try {
      const started = performance.now();
      assert.equal((await client.chat(user('eventually'))).content, 'eventually');
      assert.equal(daemon.connections.length, 4);
      assert.equal(client.stats.connections, 1, 'refused connections are not kept');
      // Two waits of 25 and 50 ms at least (the first refusal may race the request).
      assert.ok(performance.now() - started >= 70, 'backed off between refusals');
    } finally {
      client.close();
      await daemon.stop();
    }
  });

  test('a connection-fatal error: each stream gets its own end, the rest a lost connection', async () => {
    const held: ReceivedRequest[] = [];
    const daemon = await FakeDaemon.start({
      onRequest: (req) => {
        held.push(req);
        if (held.length < 3) return;
        // What the daemon does before closing for a corrupt frame: one typed end per stream
        // it can account for, then Error on stream 0, then close.
        const stream = (text: string): number => held.find((r) => lastContent(r.body) === text)!.streamId;
        req.conn.send(
          endFrame(stream('acted'), {
            status: wire.Status.UNAVAILABLE, retryable: false, reachedProvider: true,
            origin: 'sidecar/connection', message: 'corrupt frame',
          }),
          endFrame(stream('refused'), {
            status: wire.Status.UNAVAILABLE, retryable: true, reachedProvider: false,
            origin: 'sidecar/connection', message: 'not started',
          }),
          errorFrame(wire.Status.INVALID_ARGUMENT, 'corrupt frame'));
        req.conn.socket.end();
      },
    });
    const client = new OutriggerClient({ socketPath: daemon.socketPath });
    try {
      const [acted, refused, silent] = await Promise.all(
        ['acted', 'refused', 'silent'].map((t) => rejection(client.chat(user(t)))));
      const seen = (e: OutriggerError) => [e.code, e.retryable, e.reachedProvider, e.detail, e.origin];
      assert.deepEqual(seen(acted!), ['UNAVAILABLE', false, true, 'corrupt frame', 'sidecar/connection']);
      assert.deepEqual(seen(refused!), ['UNAVAILABLE', true, false, 'not started', 'sidecar/connection']);
      assert.deepEqual(seen(silent!).slice(0, 3), ['UNAVAILABLE', true, false]);
      assert.equal(silent!.origin, 'client/connection');
      assert.match(silent!.detail, /corrupt frame/);
    } finally {
      client.close();
      await daemon.stop();
    }
  });

  test('answers Ping with Pong', async () => {
    const daemon = await FakeDaemon.start();
    const client = new OutriggerClient({ socketPath: daemon.socketPath });
    try {
      await client.connect();
      const { encodePing } = await import('../src/codec.js');
      daemon.connections[0]!.send(encodePing(42n));
      await daemon.until(() => daemon.connections[0]!.frames.some((f) => f['body_type'] === 'Pong'), 'Pong');
      const pong = daemon.connections[0]!.frames.find((f) => f['body_type'] === 'Pong')!;
      assert.deepEqual(pong, { stream_id: 0, body_type: 'Pong', body: { opaque: 42 } });
    } finally {
      client.close();
      await daemon.stop();
    }
  });
});

describe('client lifecycle', () => {
  test('close() cancels in-flight calls and refuses new ones', async () => {
    const daemon = await FakeDaemon.start({ onRequest: () => {} });
    const client = new OutriggerClient({ socketPath: daemon.socketPath });
    try {
      const call = client.chat(user('x'));
      await daemon.until(() => daemon.requests.length === 1, 'the request');
      client.close();
      assert.equal((await rejection(call)).code, 'CANCELLED');
      assert.equal((await rejection(client.chat(user('y')))).code, 'FAILED_PRECONDITION');
    } finally {
      await daemon.stop();
    }
  });

  test('close() during a handshake the daemon never answers releases everything at once', { timeout: 20_000 }, async () => {
    const daemon = await FakeDaemon.start({ answerHello: false });
    try {
      // In a child process: only its exit shows that no socket or timer is left behind.
      const index = new URL('../src/index.js', import.meta.url).href;
      const script = `import { OutriggerClient } from ${JSON.stringify(index)};
        const client = new OutriggerClient({ socketPath: process.argv[1], connectTimeoutMs: 60000 });
        const call = client.chat({ model: 'm', messages: [{ role: 'user', content: 'x' }] });
        setTimeout(() => client.close(), 200);
        call.catch((err) => console.log(err.code));`;
      const started = performance.now();
      const child = spawn(process.execPath, ['--input-type=module', '-e', script, daemon.socketPath],
        { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      const kill = setTimeout(() => child.kill(), 10_000);
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      clearTimeout(kill);
      const elapsed = performance.now() - started;
      assert.equal(out.trim(), 'CANCELLED');
      assert.equal(code, 0, 'exited by itself');
      assert.ok(elapsed < 5000, `exited ${Math.round(elapsed)} ms after starting, with connectTimeoutMs 60000`);
      await daemon.until(() => daemon.connections[0]?.closed === true, 'the handshaking socket to close');
    } finally {
      await daemon.stop();
    }
  });
});
