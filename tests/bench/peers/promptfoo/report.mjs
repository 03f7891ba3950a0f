// Reads the runs of tests/bench/peers/promptfoo/run.sh (results.jsonl: one line per measured run,
// {row, tool, concurrency, run, wall_s, rc, file}), checks every run's per-case verdicts against
// the generator's expected.json (and so against each other), and prints the table and the verdict on
// the goal: Outrigger's cases/s >= 10x promptfoo's. Exits 1 when any verdict differs or a run failed.
//
//   node report.mjs results.jsonl expected.json
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

const [resultsPath, expectedPath] = process.argv.slice(2);
const expected = JSON.parse(readFileSync(expectedPath, 'utf8'));
const ids = Object.keys(expected);
const runs = readFileSync(resultsPath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const goal = 10;

// From either tool's JSON output: id -> 'pass' | 'fail' | 'error', and the seconds the tool itself
// says the evaluation took (without starting the process and writing the output).
function readRun(run) {
  const doc = JSON.parse(readFileSync(run.file, 'utf8'));
  const verdicts = new Map();
  if (run.tool === 'promptfoo') {
    for (const r of doc.results.results) {
      const id = r.testCase?.description ?? r.description;
      verdicts.set(id, r.error && !r.gradingResult ? 'error' : r.success ? 'pass' : 'fail');
    }
    // One request per case, none served from its cache: every case reached the upstream.
    const usage = doc.results.stats.tokenUsage;
    if (usage.numRequests !== ids.length || usage.cached > 0) {
      throw new Error(`promptfoo made ${usage.numRequests} requests for ${ids.length} cases (${usage.cached} cached tokens)`);
    }
    return { verdicts, own_s: doc.results.stats.durationMs / 1000 };
  }
  for (const c of doc.targets[0].cases) verdicts.set(c.id, c.status);
  return { verdicts, own_s: doc.duration_s };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

let problems = 0;
let readRuns = 0;  // runs whose verdicts could be read
const differences = [];
const differing = new Set();  // ids whose verdict was not the expected one in some run
const seen = new Map(ids.map((id) => [id, new Set()]));  // id -> every verdict any run gave it
const groups = new Map();  // "row|concurrency" -> {row, tool, concurrency, walls, passed, failed}
for (const run of runs) {
  const key = `${run.row}|${run.concurrency}`;
  if (!groups.has(key)) groups.set(key, { ...run, walls: [], owns: [], passed: 0, failed: 0, other: 0 });
  const g = groups.get(key);
  // Both tools exit 100 (or Outrigger 0) when some cases fail, as some are meant to here.
  if (run.rc !== 0 && run.rc !== 100) {
    problems++;
    console.log(`${run.row} at ${run.concurrency}, run ${run.run}: exit status ${run.rc} (see out/${basename(run.file, '.json')}.log)`);
  }
  let got;
  try {
    const read = readRun(run);
    got = read.verdicts;
    g.owns.push(read.own_s);
  } catch (e) {
    problems++;
    console.log(`${run.row} at ${run.concurrency}, run ${run.run}: no readable results (exit ${run.rc}): ${e.message}`);
    continue;
  }
  g.walls.push(run.wall_s);
  readRuns++;
  const counts = { pass: 0, fail: 0, other: 0 };
  for (const id of ids) {
    const want = expected[id] ? 'pass' : 'fail';
    const v = got.get(id) ?? 'absent';
    counts[v === 'pass' || v === 'fail' ? v : 'other']++;
    seen.get(id).add(v);
    if (v !== want) differing.add(id), differences.push(`${run.row} at ${run.concurrency}, run ${run.run}: ${id} is ${v}, expected ${want}`);
  }
  [g.passed, g.failed, g.other] = [counts.pass, counts.fail, counts.other];
}

const cases = ids.length;
const rows = [...groups.values()].filter((g) => g.walls.length > 0);
const rate = (g) => cases / median(g.walls);
const ownRate = (g) => cases / median(g.owns);
const reference = (g) => rows.find((r) => r.row === 'promptfoo' && r.concurrency === g.concurrency);
const pad = (s, n, left = false) => (left ? String(s).padEnd(n) : String(s).padStart(n));
// wall: the whole command, process start to exit. own: the evaluation as the tool times it.
console.log(`${pad('tool', 22, true)} ${pad('conc', 4)} ${pad('cases', 5)} ${pad('wall s', 7)} ${pad('cases/s', 8)} ` +
  `${pad('passed', 6)} ${pad('failed', 6)} ${pad('x promptfoo', 11)} ${pad('own s', 7)} ${pad('own cases/s', 11)} ${pad('x promptfoo', 11)}`);
for (const g of rows) {
  const ref = reference(g);
  const ratio = ref ? `${(rate(g) / rate(ref)).toFixed(1)}x` : '-';
  const ownRatio = ref ? `${(ownRate(g) / ownRate(ref)).toFixed(1)}x` : '-';
  console.log(`${pad(g.row, 22, true)} ${pad(g.concurrency, 4)} ${pad(cases, 5)} ${pad(median(g.walls).toFixed(3), 7)} ` +
    `${pad(rate(g).toFixed(1), 8)} ${pad(g.passed, 6)} ${pad(g.failed, 6)} ${pad(ratio, 11)} ` +
    `${pad(median(g.owns).toFixed(3), 7)} ${pad(ownRate(g).toFixed(1), 11)} ${pad(ownRatio, 11)}`);
}

const measured = readRuns;
const identical = ids.filter((id) => seen.get(id).size === 1).length;
console.log(`\nverdicts: ${identical} of ${cases} cases got the same verdict from every tool in all ${measured} measured runs; ` +
  `${cases - differing.size} of ${cases} the expected one ` +
  `(${ids.filter((id) => expected[id]).length} expected to pass, ${ids.filter((id) => !expected[id]).length} to fail)`);
for (const d of differences.slice(0, 30)) console.log(`  DIFFERENT: ${d}`);
if (differences.length > 30) console.log(`  ... and ${differences.length - 30} more`);

console.log('');
for (const g of rows.filter((r) => r.tool === 'outrigger')) {
  const ref = reference(g);
  if (!ref) continue;
  const ratio = rate(g) / rate(ref);
  const ownRatio = ownRate(g) / ownRate(ref);
  console.log(`goal, ${g.row} at ${g.concurrency} concurrent: cases/s >= ${goal}x promptfoo's: ` +
    `${rate(g).toFixed(1)} vs ${rate(ref).toFixed(1)} (${ratio.toFixed(1)}x): ${ratio >= goal ? 'MET' : 'NOT MET'}; ` +
    `without process start: ${ownRatio.toFixed(1)}x: ${ownRatio >= goal ? 'MET' : 'NOT MET'}`);
}
process.exit(differences.length > 0 || problems > 0 ? 1 : 0);
