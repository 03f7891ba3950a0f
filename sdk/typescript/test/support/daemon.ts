// Runs the real daemon binary ($OUTRIGGER_BIN) as a subprocess on a temporary socket.

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const daemonBin = process.env['OUTRIGGER_BIN'] || undefined;
export const skipWithoutDaemon: string | false = daemonBin
  ? false
  : 'OUTRIGGER_BIN is not set (point it at the built daemon to run integration tests)';

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 15_000;

/** A fresh directory for a socket; removed by {@link removeSocketDir}. */
export function makeSocketDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'outrigger-ts-'));
}

export function removeSocketDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

function canConnect(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection({ path: socketPath });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export class Daemon {
  readonly #child: ChildProcess;
  readonly #output: string[] = [];
  readonly #exited: Promise<number | null>;

  private constructor(readonly socketPath: string) {
    this.#child = spawn(daemonBin!, ['serve', '--socket', socketPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (data: Buffer): void => {
      this.#output.push(data.toString('utf8'));
      if (this.#output.length > 200) this.#output.shift();
    };
    this.#child.stdout!.on('data', keep);
    this.#child.stderr!.on('data', keep);
    this.#exited = new Promise((resolve) => {
      this.#child.once('exit', (code, signal) => resolve(signal === null ? code : null));
    });
  }

  /** Starts the daemon and waits until its socket accepts connections. */
  static async start(socketPath: string): Promise<Daemon> {
    const daemon = new Daemon(socketPath);
    const started = Date.now();
    let exited = false;
    void daemon.#exited.then(() => {
      exited = true;
    });
    while (!(fs.existsSync(socketPath) && (await canConnect(socketPath)))) {
      if (exited) throw new Error(`the daemon exited during start-up:\n${daemon.output}`);
      if (Date.now() - started > START_TIMEOUT_MS) {
        daemon.#child.kill('SIGKILL');
        throw new Error(`the daemon did not accept connections within ${START_TIMEOUT_MS} ms:\n${daemon.output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return daemon;
  }

  /** Everything the daemon printed recently, for failure messages. */
  get output(): string {
    return this.#output.join('');
  }

  /** Sends SIGKILL, as a crash would, and resolves once the process is gone. */
  async kill(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    this.#child.kill('SIGKILL');
    await this.#exited;
  }

  /** Sends SIGTERM and resolves with the exit code (null if killed by a signal). */
  async stop(): Promise<number | null> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return this.#exited;
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    try {
      return await this.#exited;
    } finally {
      clearTimeout(timer);
    }
  }
}
