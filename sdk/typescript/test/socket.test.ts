// Choosing the socket path, and checking who serves it before anything is sent.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { defaultSocketCandidates, OutriggerClient, resolveSocketPath } from '../src/index.js';
import { firstSocket } from '../src/socket_path.js';
import { shouldVerifyServer, trustedServerUids } from '../src/verify.js';
import { FakeDaemon } from './support/fake_daemon.js';
import { rejection } from './support/calls.js';

const euid = process.geteuid!();
const SYSTEM_CANDIDATES = ['/run/outrigger/outrigger.sock', `/tmp/outrigger-${euid}/outrigger.sock`];
const user = (content: string) => ({ model: 'mock-1', messages: [{ role: 'user', content }] });

/** Runs `fn` with these environment variables (undefined: unset), restoring them afterwards. */
async function withEnv(vars: Record<string, string | undefined>, fn: () => Promise<void> | void): Promise<void> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (values: Record<string, string | undefined>): void => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  apply(vars);
  try {
    await fn();
  } finally {
    apply(saved);
  }
}

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'orts-'));
}

/** A listening socket at `socketPath`; close it when done. */
async function bind(socketPath: string): Promise<net.Server> {
  const server = net.createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return server;
}

function isSocket(p: string): boolean {
  try {
    return fs.lstatSync(p).isSocket();
  } catch {
    return false;
  }
}

describe('socket path', () => {
  test('default candidates, in order', async () => {
    await withEnv({ XDG_RUNTIME_DIR: '/run/user/4242' }, () => {
      assert.deepEqual(defaultSocketCandidates(), ['/run/user/4242/outrigger/outrigger.sock', ...SYSTEM_CANDIDATES]);
    });
    for (const xdg of ['run/user/4242', '', undefined]) { // relative, empty or unset: ignored
      await withEnv({ XDG_RUNTIME_DIR: xdg }, () => assert.deepEqual(defaultSocketCandidates(), SYSTEM_CANDIDATES));
    }
  });

  test('explicit option, then OUTRIGGER_SOCKET, then the defaults', async () => {
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'outrigger'));
    const first = path.join(dir, 'outrigger', 'outrigger.sock');
    const server = await bind(first);
    try {
      await withEnv({ XDG_RUNTIME_DIR: dir, OUTRIGGER_SOCKET: '/srv/env.sock' }, () => {
        assert.equal(resolveSocketPath('/srv/explicit.sock'), '/srv/explicit.sock');
        assert.equal(resolveSocketPath(), '/srv/env.sock');
        assert.equal(new OutriggerClient().socketPath, '/srv/env.sock');
      });
      await withEnv({ XDG_RUNTIME_DIR: dir, OUTRIGGER_SOCKET: '' }, () => {
        assert.equal(resolveSocketPath(), first);
        assert.equal(new OutriggerClient().socketPath, first);
      });
    } finally {
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('when no candidate exists, the first one is used', async (t) => {
    if (SYSTEM_CANDIDATES.some(isSocket)) return t.skip('a daemon serves a system default socket here');
    const dir = tempDir();
    try {
      await withEnv({ XDG_RUNTIME_DIR: dir, OUTRIGGER_SOCKET: undefined }, () => {
        assert.equal(resolveSocketPath(), path.join(dir, 'outrigger', 'outrigger.sock'));
      });
      await withEnv({ XDG_RUNTIME_DIR: undefined, OUTRIGGER_SOCKET: undefined }, () => {
        assert.equal(resolveSocketPath(), '/run/outrigger/outrigger.sock');
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('missing paths and other files are skipped', async () => {
    const dir = tempDir();
    const [missing, regular, sock] = ['missing', 'regular', 's.sock'].map((n) => path.join(dir, n)) as [string, string, string];
    fs.writeFileSync(regular, '');
    const server = await bind(sock);
    try {
      assert.equal(firstSocket([missing, regular, sock]), sock);
      assert.equal(firstSocket([missing, regular]), missing);
    } finally {
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the /tmp/outrigger-<euid> fallback is used once it exists', async (t) => {
    const [run, tmp] = SYSTEM_CANDIDATES as [string, string];
    if (isSocket(run)) return t.skip(`a daemon serves ${run} here`);
    try {
      fs.mkdirSync(path.dirname(tmp), { mode: 0o700 });
    } catch {
      return t.skip(`${path.dirname(tmp)} exists already (a daemon, or another test run, uses it)`);
    }
    let server: net.Server | undefined;
    try {
      await withEnv({ XDG_RUNTIME_DIR: undefined, OUTRIGGER_SOCKET: undefined }, async () => {
        const client = new OutriggerClient();
        assert.equal(client.socketPath, run, 'none exists yet');
        server = await bind(tmp);
        assert.equal(resolveSocketPath(), tmp);
        assert.equal(client.socketPath, tmp, 'the client looks again for each connection attempt');
      });
    } finally {
      server?.close();
      fs.rmSync(path.dirname(tmp), { recursive: true, force: true });
    }
  });
});

describe('server verification', () => {
  test('on by default only for a default path; an expected uid always turns it on', async () => {
    assert.equal(shouldVerifyServer(true), true);
    assert.equal(shouldVerifyServer(false), false);
    assert.equal(shouldVerifyServer(false, true), true);
    assert.equal(shouldVerifyServer(true, false), false);
    assert.equal(shouldVerifyServer(false, undefined, 7), true);
    assert.equal(shouldVerifyServer(true, false, 7), true);
    await withEnv({ OUTRIGGER_SOCKET: undefined }, () => {
      assert.equal(new OutriggerClient().verifiesServer, true);
      assert.equal(new OutriggerClient({ verifyServer: false }).verifiesServer, false);
      assert.equal(new OutriggerClient({ socketPath: '/srv/o.sock' }).verifiesServer, false);
      assert.equal(new OutriggerClient({ socketPath: '/srv/o.sock', expectedServerUid: 7 }).verifiesServer, true);
    });
    await withEnv({ OUTRIGGER_SOCKET: '/srv/env.sock' }, () => {
      assert.equal(new OutriggerClient().verifiesServer, false);
      assert.equal(new OutriggerClient({ verifyServer: true }).verifiesServer, true);
    });
  });

  test('trusted uids', () => {
    assert.deepEqual(trustedServerUids('/any/o.sock', 4242), [4242]);
    const trusted = trustedServerUids(path.join(os.tmpdir(), 'x', 'o.sock'));
    assert.ok(trusted.includes(0) && trusted.includes(euid), `got ${trusted.join(', ')}`);
  });

  test('the directory owner is trusted only below a parent others cannot write to', { skip: euid !== 0 && 'needs root to give a directory away' }, () => {
    const parent = tempDir();
    try {
      const dir = path.join(parent, 'outrigger');
      fs.mkdirSync(dir);
      fs.chownSync(dir, 4242, -1);
      fs.chmodSync(parent, 0o755);
      assert.deepEqual(trustedServerUids(path.join(dir, 'o.sock')), [0, 4242]);
      fs.chmodSync(parent, 0o1777); // like /tmp: anyone could have made the directory
      assert.deepEqual(trustedServerUids(path.join(dir, 'o.sock')), [0]);
    } finally {
      fs.rmSync(parent, { recursive: true, force: true });
    }
  });

  test('a server of the same user is accepted', async () => {
    const daemon = await FakeDaemon.start();
    const clients = [
      new OutriggerClient({ socketPath: daemon.socketPath, verifyServer: true }),
      new OutriggerClient({ socketPath: daemon.socketPath, expectedServerUid: euid }),
    ];
    try {
      for (const client of clients) assert.equal((await client.chat(user('hi'))).content, 'hi');
    } finally {
      for (const client of clients) client.close();
      await daemon.stop();
    }
  });

  test('an unexpected server uid fails the connection before anything is sent', async () => {
    const daemon = await FakeDaemon.start();
    const stranger = euid + 12345;
    const client = new OutriggerClient({
      socketPath: daemon.socketPath, expectedServerUid: stranger, connectTimeoutMs: 5000,
    });
    try {
      const started = performance.now();
      const err = await rejection(client.chat(user('secret prompt')));
      assert.ok(performance.now() - started < 1000, 'not retried until connectTimeoutMs');
      assert.equal(err.code, 'PERMISSION_DENIED');
      assert.equal(err.retryable, false);
      assert.equal(err.origin, 'client/verify');
      assert.equal(err.detail,
        `the server of ${daemon.socketPath} (the socket file's owner) is uid ${euid}, not one of the trusted uids ${stranger}`);
      await daemon.until(() => daemon.connections.length === 1 && daemon.connections[0]!.closed, 'the connection to close');
      assert.equal(daemon.connections[0]!.bytesReceived, 0);
    } finally {
      client.close();
      await daemon.stop();
    }
  });

  test('a default path whose socket belongs to a stranger is refused; explicit paths are not checked',
    { skip: euid !== 0 && 'needs root to give a socket file away' }, async () => {
      const dir = tempDir();
      fs.mkdirSync(path.join(dir, 'outrigger'));
      const daemon = await FakeDaemon.start({ socketPath: path.join(dir, 'outrigger', 'outrigger.sock') });
      fs.chownSync(daemon.socketPath, euid + 12345, -1);
      try {
        await withEnv({ XDG_RUNTIME_DIR: dir, OUTRIGGER_SOCKET: undefined }, async () => {
          const byDefault = new OutriggerClient();
          const optedOut = new OutriggerClient({ verifyServer: false });
          const explicit = new OutriggerClient({ socketPath: daemon.socketPath });
          try {
            assert.equal(byDefault.socketPath, daemon.socketPath);
            assert.equal((await rejection(byDefault.chat(user('x')))).code, 'PERMISSION_DENIED');
            assert.equal((await optedOut.chat(user('opted out'))).content, 'opted out');
            assert.equal((await explicit.chat(user('explicit'))).content, 'explicit');
          } finally {
            for (const client of [byDefault, optedOut, explicit]) client.close();
          }
        });
      } finally {
        await daemon.stop();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
});
