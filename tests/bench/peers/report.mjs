// Turns the result lines of one run.sh run (JSON lines) into the side-by-side table and the
// verdict on the targets. Usage: node report.mjs RESULTS.jsonl
//
// A result line: {name, comparable, concurrency, requests, errors, rps, p50_ms, p99_ms,
// rss_kb, hwm_kb} or {name, concurrency, failed: "why"}. The row named "direct" is the baseline;
// "added p50" is a row's p50 minus direct's p50 at the same concurrency, from the same run.
import fs from 'node:fs';

const rows = fs.readFileSync(process.argv[2], 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const find = (name, c) => rows.find((r) => r.name === name && r.concurrency === c);
const ok = (r) => r && !r.failed && r.requests > 0 && r.errors === 0;
const mb = (kb) => (kb ? (kb / 1024).toFixed(1) : '-');
const f = (x, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : '-');

const header = ['target', 'conc', 'req/s', 'p50 ms', 'p99 ms', 'added p50 ms', 'errors', 'RSS MiB', 'peak MiB'];
const table = [header];
for (const r of rows) {
  if (r.failed) { table.push([r.name, String(r.concurrency), `FAILED: ${r.failed}`]); continue; }
  const base = find('direct', r.concurrency);
  const added = r.name === 'direct' || !ok(base) ? NaN : r.p50_ms - base.p50_ms;
  table.push([r.name, String(r.concurrency), r.rps.toFixed(1), f(r.p50_ms), f(r.p99_ms),
    r.name === 'direct' ? '(baseline)' : f(added), String(r.errors), mb(r.rss_kb), mb(r.hwm_kb)]);
}
const widths = header.map((_, i) => Math.max(...table.map((row) => (row[i] || '').length)));
for (const row of table) {
  console.log(row.map((cell, i) => (i === 0 || row.length < header.length ? (cell || '').padEnd(widths[i]) : (cell || '').padStart(widths[i]))).join('  ').trimEnd());
}

// --- targets, for each Outrigger row ------------------------------------------------------
const outriggers = rows.filter((r) => r.name.startsWith('outrigger') && r.concurrency === 1);
const added1 = (name) => {
  const r = find(name, 1), base = find('direct', 1);
  return ok(r) && ok(base) ? r.p50_ms - base.p50_ms : NaN;
};
const verdict = (pass, judgeable) => (!judgeable ? 'CANNOT BE JUDGED' : pass ? 'MET' : 'NOT MET');
if (!outriggers.length || !outriggers[0].comparable) {
  console.log('');
  console.log('targets: CANNOT BE JUDGED - Outrigger did not run in front of the upstream');
  console.log('  (no provider.openai plugin; its rows use the in-process mock provider and are NOT comparable)');
  process.exit(0);
}
const pAdded = added1('portkey'), lAdded = added1('litellm'), p64 = find('portkey', 64);
const d64 = [find('direct', 64), find('direct(again)', 64)].filter(ok).sort((a, b) => b.rps - a.rps)[0];
for (const { name: o } of outriggers) {
  const oAdded = added1(o), o64 = find(o, 64);
  console.log('');
  console.log(`${o}:`);
  const j1 = [oAdded, pAdded].every(Number.isFinite) && pAdded > 0;
  console.log(`  target 1: added p50 at 1 concurrent <= 1/20 of Portkey's: ${f(oAdded)} ms vs ${f(pAdded / 20)} ms (Portkey adds ${f(pAdded)} ms): ` +
    verdict(oAdded <= pAdded / 20, j1));
  const j2 = [oAdded, lAdded].every(Number.isFinite) && lAdded > 0;
  console.log(`  target 2: added p50 at 1 concurrent <= 1/100 of LiteLLM's: ${f(oAdded)} ms vs ${f(lAdded / 100)} ms (LiteLLM adds ${f(lAdded)} ms): ` +
    verdict(oAdded <= lAdded / 100, j2));
  const j3 = ok(o64) && ok(p64);
  console.log(`  target 3: req/s at 64 concurrent >= 30x Portkey's: ${j3 ? o64.rps.toFixed(1) : '-'} vs ${j3 ? (30 * p64.rps).toFixed(1) : '-'} ` +
    `(${j3 ? (o64.rps / p64.rps).toFixed(1) : '-'}x): ` + verdict(j3 && o64.rps >= 30 * p64.rps, j3));
  if (j3 && ok(d64) && d64.rps < 30 * p64.rps) {
    console.log(`    note: the upstream called directly serves at most ${d64.rps.toFixed(1)} req/s at 64 concurrent here, ` +
      `below 30x Portkey's; no proxy in front of it can reach target 3 on this machine`);
  }
}
