// The client matrix's rig for Node: the scripted upstream (tests/upstream/upstream.py) on a free
// port and the real daemon in front of it, with the routes of tests/http/upstream_daemon.py.
// Tests script the upstream's answers and read back the exact request bodies it received.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const config = (dir, plugins, upstream) => `
default_route = "openai"
[server]
socket = "${dir}/o.sock"
workers = 2
drain_grace_ms = 1000
[http]
listen = "127.0.0.1:0"
abort_check_ms = 50
[plugins]
dirs = ["${plugins}"]
[instances.openai]
type = "provider.openai"
[instances.openai.config]
base_url = "${upstream}/v1"
api_key = "sk-upstream"
[instances.claude]
type = "provider.anthropic"
[instances.claude.config]
base_url = "${upstream}"
api_key = "sk-upstream"
[routes.openai]
provider = "openai"
[routes.claude-sonnet-4-5]
provider = "claude"
`;

export class Rig {
  async start() {
    const { OUTRIGGER_BIN: bin, OUTRIGGER_PLUGIN_DIR: plugins, OUTRIGGER_UPSTREAM_SCRIPT: script } = process.env;
    if (!bin || !plugins || !script) throw new Error('OUTRIGGER_BIN, OUTRIGGER_PLUGIN_DIR and OUTRIGGER_UPSTREAM_SCRIPT are needed');
    this.upstreamProc = spawn('python3', [script, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise((resolve) => createInterface({ input: this.upstreamProc.stdout }).once('line', resolve));
    const port = /PORT (\d+)/.exec(line)?.[1];
    if (!port) throw new Error(`upstream did not start: ${line}`);
    this.upstream = `http://127.0.0.1:${port}`;
    this.dir = mkdtempSync(join(tmpdir(), 'outrigger-matrix-'));
    writeFileSync(join(this.dir, 'o.toml'), config(this.dir, plugins, this.upstream));
    const log = openSync(join(this.dir, 'daemon.log'), 'w');
    this.daemonProc = spawn(bin, ['serve', '--config', join(this.dir, 'o.toml')], { stdio: ['ignore', log, log] });
    this.http = await this.#awaitLog(/API listening on (\S+)/);
    this.baseURL = `http://${this.http}/v1`;
  }

  async #awaitLog(pattern) {
    for (let i = 0; i < 500; i++) {
      const m = readFileSync(join(this.dir, 'daemon.log'), 'utf8').match(pattern);
      if (m) return m[1];
      await sleep(20);
    }
    throw new Error('daemon did not start: ' + readFileSync(join(this.dir, 'daemon.log'), 'utf8'));
  }

  async #control(path, body) {
    const init = body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) };
    return (await fetch(this.upstream + path, init)).json();
  }

  reset() { return this.#control('/_control/reset', {}); }
  script(...steps) { return this.#control('/_control/script', { steps }); }
  requests() { return this.#control('/_control/log'); }

  // The path and body of the one request the upstream received.
  async onlyRequest() {
    const log = await this.requests();
    if (log.length !== 1) throw new Error(`expected one upstream request, got ${log.length}: ${JSON.stringify(log).slice(0, 2000)}`);
    return log[0];
  }

  async stop() {
    this.daemonProc?.kill('SIGTERM');
    if (this.daemonProc) await new Promise((r) => this.daemonProc.once('exit', r));
    this.upstreamProc?.kill();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

export const textReply = (text) => ({ text });
export const toolReply = (name, args) => ({ text: null, tool_calls: [{ id: 'call_1', name, arguments: JSON.stringify(args) }] });
