// The chunks a stream holds for a caller who does not read them are bounded.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { OutriggerClient } from '../src/index.js';
import { chunkFrame, echo, FakeDaemon, lastContent, startFrame } from './support/fake_daemon.js';
import { rejection, sleep, user } from './support/calls.js';

const LIMIT = 2048;
const DELTA = 'x'.repeat(100);
const CHUNKS = 40; // 4000 bytes of text alone, well over LIMIT

describe('stream buffer bound', () => {
  test('a stream nobody reads fails RESOURCE_EXHAUSTED and is cancelled; the connection goes on', async () => {
    const daemon = await FakeDaemon.start({
      onRequest: (req, d) => {
        if (lastContent(req.body) !== 'flood') return echo(req, d);
        req.conn.send(startFrame(req.streamId));
        for (let i = 0; i < CHUNKS; i++) req.conn.send(chunkFrame(req.streamId, i, DELTA));
        d.end(req, { origin: 'provider/fake' });
      },
    });
    const client = new OutriggerClient({ socketPath: daemon.socketPath, maxStreamBufferBytes: LIMIT });
    try {
      const flood = client.stream(user('flood'));
      const err = await rejection(flood.finalResponse());
      assert.equal(err.code, 'RESOURCE_EXHAUSTED');
      assert.equal(err.origin, 'client');
      assert.equal(err.retryable, false);
      const buffered = Number(/did not read the stream fast enough \((\d+) bytes buffered/.exec(err.detail)?.[1]);
      assert.ok(buffered > LIMIT && buffered < LIMIT + 200, `${err.detail}`);
      const conn = daemon.connections[0]!;
      const floodId = daemon.requests[0]!.streamId;
      await daemon.until(() => conn.cancelled.includes(floodId), 'Cancel for the flooded stream');

      // What was buffered can still be read, then the loop throws the same error.
      const read: string[] = [];
      const thrown = await rejection((async () => {
        for await (const chunk of flood) read.push(chunk.delta);
      })());
      assert.equal(thrown.code, 'RESOURCE_EXHAUSTED');
      assert.ok(read.length > 0 && read.length < CHUNKS, `${read.length} chunks read`);
      assert.ok(read.every((d) => d === DELTA));

      const other: string[] = [];
      for await (const chunk of client.stream(user('other'))) other.push(chunk.delta);
      assert.deepEqual(other, ['other']);
      assert.equal((await client.chat(user('unary'))).content, 'unary');
      assert.equal(daemon.connections.length, 1);
      assert.equal(client.stats.connects, 1);
    } finally {
      client.close();
      await daemon.stop();
    }
  });

  test('a stream read as it arrives may carry more than the bound in total', async () => {
    const daemon = await FakeDaemon.start({
      onRequest: async (req, d) => {
        req.conn.send(startFrame(req.streamId));
        for (let i = 0; i < CHUNKS; i++) {
          req.conn.send(chunkFrame(req.streamId, i, DELTA));
          await sleep(1);
        }
        d.end(req, { origin: 'provider/fake' });
      },
    });
    const client = new OutriggerClient({ socketPath: daemon.socketPath, maxStreamBufferBytes: LIMIT });
    try {
      const stream = client.stream(user('steady'));
      let count = 0;
      for await (const chunk of stream) count += chunk.delta === DELTA ? 1 : 0;
      assert.equal(count, CHUNKS);
      assert.equal((await stream.finalResponse()).content.length, CHUNKS * DELTA.length);
    } finally {
      client.close();
      await daemon.stop();
    }
  });

  test('a chunk larger than the bound is taken when nothing is buffered, not a second one', async () => {
    const big = 'y'.repeat(2 * LIMIT);
    const daemon = await FakeDaemon.start({
      onRequest: async (req, d) => {
        req.conn.send(startFrame(req.streamId));
        req.conn.send(chunkFrame(req.streamId, 0, big));
        if (lastContent(req.body) === 'two') req.conn.send(chunkFrame(req.streamId, 1, big));
        d.end(req, { origin: 'provider/fake' });
      },
    });
    const client = new OutriggerClient({ socketPath: daemon.socketPath, maxStreamBufferBytes: LIMIT });
    try {
      const one = client.stream(user('one'));
      assert.equal((await one.finalResponse()).content, big, 'taken although nobody read it yet');
      const read: string[] = [];
      for await (const chunk of one) read.push(chunk.delta);
      assert.deepEqual(read, [big]);

      const err = await rejection(client.stream(user('two')).finalResponse());
      assert.equal(err.code, 'RESOURCE_EXHAUSTED', 'the second waits behind an unread one');
    } finally {
      client.close();
      await daemon.stop();
    }
  });

  test('maxStreamBufferBytes must be positive', () => {
    assert.throws(() => new OutriggerClient({ socketPath: '/nonexistent', maxStreamBufferBytes: 0 }), RangeError);
  });
});
