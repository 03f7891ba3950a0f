// Heartbeat: with HelloAck.heartbeat_ms set the client pings the daemon and gives up a
// connection on which nothing has been read for three intervals.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { OutriggerClient } from '../src/index.js';
import { FakeDaemon, pongFrame, type FakeConnection, type ReceivedRequest } from './support/fake_daemon.js';
import { rejection, sleep, user } from './support/calls.js';

const HEARTBEAT_MS = 100;
const pings = (conn: FakeConnection) => conn.frames.filter((f) => f['body_type'] === 'Ping');

/** Runs `fn` while counting the interval timers it leaves running. */
async function countingIntervals(fn: () => Promise<void>): Promise<number> {
  const live = new Set<unknown>();
  const { setInterval: realSet, clearInterval: realClear } = globalThis;
  globalThis.setInterval = ((...args: Parameters<typeof realSet>) => {
    const timer = realSet(...args);
    live.add(timer);
    return timer;
  }) as typeof realSet;
  globalThis.clearInterval = ((timer: Parameters<typeof realClear>[0]) => {
    live.delete(timer);
    realClear(timer);
  }) as typeof realClear;
  try {
    await fn();
  } finally {
    globalThis.setInterval = realSet;
    globalThis.clearInterval = realClear;
  }
  return live.size;
}

describe('heartbeat', () => {
  test('a call with no timeout fails UNAVAILABLE when the daemon stops answering', { timeout: 5000 }, async () => {
    const daemon = await FakeDaemon.start({ ack: { heartbeatMs: HEARTBEAT_MS }, answerPing: false, onRequest: () => {} });
    const client = new OutriggerClient({ socketPath: daemon.socketPath });
    try {
      const left = await countingIntervals(async () => {
        const started = performance.now();
        const err = await rejection(client.chat(user('x')));
        const elapsed = performance.now() - started;
        assert.equal(err.code, 'UNAVAILABLE');
        assert.equal(err.retryable, true);
        assert.equal(err.origin, 'client/connection');
        assert.match(err.detail, /no frame from the daemon for \d+ ms \(heartbeat every 100 ms\)/);
        assert.ok(elapsed >= 3 * HEARTBEAT_MS && elapsed < 2000, `failed after ${elapsed} ms`);
      });
      assert.equal(left, 0, 'the heartbeat timer stopped with the connection');
      const conn = daemon.connections[0]!;
      assert.ok(pings(conn).length >= 2, `${pings(conn).length} pings`);
      assert.ok(pings(conn).every((p) => p['stream_id'] === 0));
      await daemon.until(() => conn.closed, 'the client to close the connection');
    } finally {
      client.close();
      await daemon.stop();
    }
  });

  test('a daemon that answers Pings keeps the connection past three intervals', { timeout: 5000 }, async () => {
    const held: ReceivedRequest[] = [];
    const daemon = await FakeDaemon.start({ ack: { heartbeatMs: HEARTBEAT_MS }, onRequest: (req) => held.push(req) });
    const client = new OutriggerClient({ socketPath: daemon.socketPath });
    try {
      const left = await countingIntervals(async () => {
        const call = client.chat(user('slow'));
        await daemon.until(() => held.length === 1, 'the request');
        await sleep(7 * HEARTBEAT_MS);
        daemon.end(held[0]!, { content: 'done' });
        assert.equal((await call).content, 'done');
        const opaques = pings(daemon.connections[0]!).map((p) => (p['body'] as { opaque: number }).opaque);
        assert.ok(opaques.length >= 4, `${opaques.length} pings`);
        assert.deepEqual(opaques, opaques.map((_, i) => i + 1), 'each Ping carries the next number');
        assert.equal(daemon.connections.length, 1);
        assert.equal(client.stats.connects, 1);
        client.close();
      });
      assert.equal(left, 0, 'close() stopped the heartbeat timer');
    } finally {
      client.close();
      await daemon.stop();
    }
  });

  test('time this process spent busy is not taken for a silent daemon', { timeout: 5000 }, async () => {
    const daemon = await FakeDaemon.start({ ack: { heartbeatMs: HEARTBEAT_MS } });
    const client = new OutriggerClient({ socketPath: daemon.socketPath });
    try {
      await client.connect();
      await sleep(2 * HEARTBEAT_MS);
      // A frame reaches the socket, but this process blocks for five intervals before reading it.
      daemon.connections[0]!.send(pongFrame(0n));
      const until = performance.now() + 5 * HEARTBEAT_MS;
      while (performance.now() < until) { /* busy */ }
      await sleep(2 * HEARTBEAT_MS);
      assert.equal((await client.chat(user('still here'))).content, 'still here');
      assert.equal(daemon.connections.length, 1, 'the connection was kept');
    } finally {
      client.close();
      await daemon.stop();
    }
  });

  test('a call in flight survives this process blocking while no Ping could go out', { timeout: 5000 }, async () => {
    // The fake answers each Ping and sends nothing unprompted, like the daemon.
    const held: ReceivedRequest[] = [];
    const daemon = await FakeDaemon.start({ ack: { heartbeatMs: HEARTBEAT_MS }, onRequest: (req) => held.push(req) });
    const client = new OutriggerClient({ socketPath: daemon.socketPath });
    try {
      const call = client.chat(user('slow'));
      await daemon.until(() => held.length === 1, 'the request');
      const conn = daemon.connections[0]!;
      const answered = pings(conn).length + 1;
      await daemon.until(() => pings(conn).length >= answered, 'a Ping');
      await sleep(HEARTBEAT_MS / 5); // its Pong is read; the next tick is still ahead
      const until = performance.now() + 5 * HEARTBEAT_MS;
      while (performance.now() < until) { /* busy: nothing is sent or read */ }
      await sleep(2 * HEARTBEAT_MS);
      daemon.end(held[0]!, { content: 'done' });
      assert.equal((await call).content, 'done');
      assert.equal(daemon.connections.length, 1, 'the connection was kept');
    } finally {
      client.close();
      await daemon.stop();
    }
  });

  test('the heartbeat does not keep the process alive', { timeout: 10_000 }, async () => {
    const daemon = await FakeDaemon.start({ ack: { heartbeatMs: HEARTBEAT_MS } });
    try {
      const index = new URL('../src/index.js', import.meta.url).href;
      const script = `import { OutriggerClient } from ${JSON.stringify(index)};
        const client = new OutriggerClient({ socketPath: process.argv[1] });
        const info = await client.connect();
        console.log(info.heartbeatMs);`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script, daemon.socketPath],
        { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      const kill = setTimeout(() => child.kill(), 5000);
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      clearTimeout(kill);
      assert.equal(out.trim(), String(HEARTBEAT_MS), 'connected with a heartbeat');
      assert.equal(code, 0, 'exited by itself with the connection open');
    } finally {
      await daemon.stop();
    }
  });
});
