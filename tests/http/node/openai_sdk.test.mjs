// The official openai Node package, unchanged but for baseURL, against the real daemon.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';

const BIN = process.env.OUTRIGGER_BIN;
const PLUGINS = process.env.OUTRIGGER_PLUGIN_DIR;
let proc, dir, baseURL, admin;

const config = (d) => `
[server]
socket = "${d}/o.sock"
workers = 2
[http]
listen = "127.0.0.1:0"
abort_check_ms = 50
[admin]
listen = "127.0.0.1:0"
[plugins]
dirs = ["${PLUGINS}"]
[instances.mock]
type = "provider.mock"
[instances.mock.config]
mode = "echo"
allow_request_overrides = true
[instances.input_rules]
type = "guardrail.rules"
[instances.input_rules.config]
deny_patterns = ['(?i)forbidden phrase']
[routes.default]
guardrails = ["input_rules"]
provider = "mock"
`;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function awaitLog(pattern) {
  for (let i = 0; i < 500; i++) {
    const m = readFileSync(join(dir, 'daemon.log'), 'utf8').match(pattern);
    if (m) return m[1];
    await sleep(20);
  }
  throw new Error('daemon did not start: ' + readFileSync(join(dir, 'daemon.log'), 'utf8'));
}

async function metric(name) {
  const text = await (await fetch(`http://${admin}/metrics`)).text();
  const m = text.match(new RegExp(`\\n${name} ([0-9.e+-]+)\\n`));
  return m ? Number(m[1]) : NaN;
}

async function awaitMetric(name, want) {
  for (let i = 0; i < 250; i++) {
    if ((await metric(name)) === want) return true;
    await sleep(20);
  }
  return false;
}

before(async () => {
  assert.ok(BIN && PLUGINS, 'OUTRIGGER_BIN and OUTRIGGER_PLUGIN_DIR are needed');
  dir = mkdtempSync(join(tmpdir(), 'outrigger-node-'));
  writeFileSync(join(dir, 'o.toml'), config(dir));
  writeFileSync(join(dir, 'daemon.log'), '');
  const { openSync } = await import('node:fs');
  const log = openSync(join(dir, 'daemon.log'), 'a');
  proc = spawn(BIN, ['serve', '--config', join(dir, 'o.toml')], { stdio: ['ignore', log, log] });
  baseURL = `http://${await awaitLog(/API listening on (\S+)/)}/v1`;
  admin = await awaitLog(/admin endpoints listening on (\S+)/);
});

after(async () => {
  proc.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
});

const client = (opts = {}) => new OpenAI({ baseURL, apiKey: 'sk-test', maxRetries: 0, ...opts });
const user = (text) => [{ role: 'user', content: text }];

test('unary completion', async () => {
  const r = await client().chat.completions.create({ model: 'default', messages: user('hello node world') });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.content, 'hello node world');
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.equal(r.usage.total_tokens, 6);
  assert.match(r._request_id, /^req_/);
});

test('streaming text with include_usage', async () => {
  const stream = await client().chat.completions.create({
    model: 'default', messages: user('one two three four'), stream: true,
    stream_options: { include_usage: true }, mock: { chunks: 4 },
  });
  const chunks = [];
  for await (const ch of stream) chunks.push(ch);
  const text = chunks.filter((c) => c.choices.length).map((c) => c.choices[0].delta.content ?? '').join('');
  assert.equal(text, 'one two three four');
  assert.deepEqual(chunks.at(-1).choices, []);
  assert.equal(chunks.at(-1).usage.completion_tokens, 4);
  assert.equal(chunks.at(-2).choices[0].finish_reason, 'stop');
});

test('errors map to the SDK exception classes, without retries when final', async () => {
  const before = await metric('outrigger_chain_requests_started_total');
  await assert.rejects(
    client({ maxRetries: 2 }).chat.completions.create({ model: 'default', messages: user('a forbidden phrase') }),
    (e) => e instanceof OpenAI.PermissionDeniedError && e.status === 403);
  assert.equal((await metric('outrigger_chain_requests_started_total')) - before, 1);
  await assert.rejects(
    client().chat.completions.create({ model: 'default', messages: user('x'), mock: { fail: { code: 'RESOURCE_EXHAUSTED' } } }),
    (e) => e instanceof OpenAI.RateLimitError && e.headers.get('retry-after') === null &&
      e.headers.get('x-should-retry') === 'false');
  await assert.rejects(
    client().chat.completions.create({ model: 'default', messages: [] }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'messages');
  await assert.rejects(
    client().chat.completions.create({ model: 'default', messages: user('x'), mock: { fail: { code: 'UNAVAILABLE' } } }),
    (e) => e instanceof OpenAI.InternalServerError && e.status === 503);
});

test('request id propagates both ways', async () => {
  const { data, response } = await client().chat.completions.create(
    { model: 'default', messages: user('x'), mock: { echo_metadata: true } },
    { headers: { 'x-request-id': 'node-req-7' } },
  ).withResponse();
  assert.equal(response.headers.get('x-request-id'), 'node-req-7');
  const seen = JSON.parse(data.choices[0].message.content);
  assert.equal(seen.request_id, 'node-req-7');
  assert.equal(seen.tenant, 'default'); // no virtual key: the one default tenant
});

test('abort cancels the upstream call', async () => {
  const aborts = await metric('outrigger_http_client_aborts_total');
  const controller = new AbortController();
  const pending = client().chat.completions.create(
    { model: 'default', messages: user('x'), mock: { hang: true } }, { signal: controller.signal });
  setTimeout(() => controller.abort(), 200);
  await assert.rejects(pending, (e) => e instanceof OpenAI.APIUserAbortError);
  assert.ok(await awaitMetric('outrigger_http_client_aborts_total', aborts + 1));
  assert.ok(await awaitMetric('outrigger_requests_in_flight', 0));
});

test('stream failure after start surfaces as an APIError', async () => {
  const stream = await client().chat.completions.create({
    model: 'default', messages: user('a b c d'), stream: true, mock: { chunks: 4, cut_after_chunks: 1 },
  });
  await assert.rejects(async () => { for await (const _ of stream) { /* drain */ } },
    (e) => e instanceof OpenAI.APIError && /cut/.test(e.message));
});

test('models list names the routes', async () => {
  const ids = [];
  for await (const m of client().models.list()) ids.push(m.id);
  assert.deepEqual(ids, ['default']);
});

test('embeddings: the default base64 path decodes to the float vectors', async () => {
  const c = client();
  const b = await c.embeddings.create({ model: 'default', input: ['a', 'b'] });
  const f = await c.embeddings.create({ model: 'default', input: ['a', 'b'], encoding_format: 'float' });
  assert.equal(b.object, 'list');
  assert.equal(b.data.length, 2);
  assert.equal(b.data[0].embedding.length, 8);
  assert.deepEqual(b.data.map((d) => d.embedding), f.data.map((d) => d.embedding));
  const d = await c.embeddings.create({ model: 'default', input: 'x', dimensions: 3, encoding_format: 'float' });
  assert.equal(d.data[0].embedding.length, 3);
  await assert.rejects(c.embeddings.create({ model: 'default', input: [[1, 2]] }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400);
});
