// Closed-loop load generator: C workers each send the next chat completion when the last one
// returned, over keep-alive connections, for D seconds. Prints one JSON line of figures.
// Usage: node load.mjs URL CONCURRENCY SECONDS [MODEL]; BENCH_HEADERS='{"name":"value"}' adds headers.
import http from 'node:http';

const [url, concurrency = '1', seconds = '10', model = 'bench-model'] = process.argv.slice(2);
const target = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(concurrency) });
const payload = JSON.stringify({ model, messages: [{ role: 'user', content: 'hello from the load generator' }] });
const extraHeaders = JSON.parse(process.env.BENCH_HEADERS || '{}');
const latencies = [];
let errors = 0;

function once() {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const req = http.request({
      agent, host: target.hostname, port: target.port, path: target.pathname, method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench', 'content-length': Buffer.byteLength(payload), ...extraHeaders },
    }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
        else errors++;
        resolve();
      });
    });
    req.on('error', () => { errors++; resolve(); });
    req.end(payload);
  });
}

const deadline = Date.now() + Number(seconds) * 1000;
const start = Date.now();
await Promise.all(Array.from({ length: Number(concurrency) }, async () => {
  while (Date.now() < deadline) await once();
}));
const elapsed = (Date.now() - start) / 1000;
latencies.sort((a, b) => a - b);
const q = (p) => latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] : NaN;
console.log(JSON.stringify({
  url, concurrency: Number(concurrency), requests: latencies.length, errors,
  rps: +(latencies.length / elapsed).toFixed(1), p50_ms: +q(0.5).toFixed(3), p99_ms: +q(0.99).toFixed(3),
}));
agent.destroy();
