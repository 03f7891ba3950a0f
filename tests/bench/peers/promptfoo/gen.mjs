// Writes one seeded dataset twice: as an Outrigger eval (cases.jsonl + eval.toml) and as a promptfoo
// config (promptfooconfig.yaml), with equivalent deterministic assertions, plus expected.json: the
// verdict each case must get. The upstream echoes the last user message, so a case's answer is its
// prompt and its verdict is known here.
//
//   node gen.mjs OUT_DIR CASES PROMPTFOO_BASE_URL [PROMPTFOO_BASE_URL ...]
//
// One promptfoo config per base URL (promptfooconfig.yaml, promptfooconfig-2.yaml, ...): the first
// is the upstream itself, the others the sidecar's OpenAI-compatible front.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [outDir, countText, ...baseUrls] = process.argv.slice(2);
const count = Number(countText);
if (!outDir || !(count > 0) || baseUrls.length === 0) {
  console.error('usage: node gen.mjs OUT_DIR CASES BASE_URL [BASE_URL ...]');
  process.exit(2);
}

// mulberry32: a small seeded generator, so every run writes the same dataset.
let seed = 20261203;
const random = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = (list) => list[Math.floor(random() * list.length)];
const digits = (n) => Array.from({ length: n }, () => Math.floor(random() * 10)).join('');
const letters = (n) => Array.from({ length: n }, () => String.fromCharCode(97 + Math.floor(random() * 26))).join('');

const words = ['refund', 'invoice', 'shipping', 'password', 'account', 'delivery', 'warranty', 'coupon',
  'subscription', 'receipt', 'address', 'tracking', 'balance', 'upgrade', 'discount', 'support'];
const sentence = () => `Your ${pick(words)} request about the ${pick(words)} is ${pick(['open', 'closed', 'pending'])} (ref ${letters(3)}${digits(3)}).`;
// A text of exactly 40 bytes and `edits` byte substitutions of it (the length stays 40).
const forty = () => letters(40);
const substitute = (text, edits) => {
  const chars = [...text];
  const positions = new Set();
  while (positions.size < edits) positions.add(Math.floor(random() * chars.length));
  for (const p of positions) chars[p] = chars[p] === 'z' ? 'a' : String.fromCharCode(chars[p].charCodeAt(0) + 1);
  return chars.join('');
};

// The equivalences. Outrigger's levenshtein passes at 1 - d/longer >= 0.875, promptfoo's at d <= 5:
// the same rule on 40-byte texts (every case's distance is at most 3 or at least 7, off the edge).
const regexes = {
  'regex-order': 'order #[0-9]{4}\\b',
  'regex-time': '^[A-Z][a-z]+ at [0-9]{2}:[0-9]{2}$',
};
const kinds = [
  (pass) => {  // exact / equals
    const text = sentence();
    return { text, tags: ['exact'], expected: pass ? text : text.replace(/\.$/, '!'), asserts: [['equals']] };
  },
  (pass) => {  // contains
    const word = pick(words);
    const text = `${sentence()} Topic: ${word}.`;
    return { text, tags: ['contains'], expected: pass ? `Topic: ${word}` : `Topic: ${word}s`, asserts: [['contains']] };
  },
  (pass) => {  // icontains / contains with ignore_case
    const word = pick(words);
    const text = `${sentence()} Team ${word.toUpperCase()}.`;
    return { text, tags: ['icontains'], expected: pass ? `team ${word}` : `team ${word}x`, asserts: [['icontains']] };
  },
  (pass) => {  // regex: an order number
    const text = `Thanks, order #${pass ? digits(4) : `${digits(2)}a${digits(1)}`} ships ${pick(['today', 'tomorrow'])}.`;
    return { text, tags: ['regex-order'], expected: '', asserts: [['regex', regexes['regex-order']]] };
  },
  (pass) => {  // regex: anchored at both ends
    const time = `${digits(1)}${digits(1)}:${digits(1)}${digits(1)}`;
    const text = pass ? `${pick(['Monday', 'Friday', 'Sunday'])} at ${time}` : `${pick(['Monday', 'Friday'])} at ${time} sharp`;
    return { text, tags: ['regex-time'], expected: '', asserts: [['regex', regexes['regex-time']]] };
  },
  (pass) => {  // is-json / json_valid, and contains on the same answer
    const key = pick(words);
    const object = { id: Number(digits(5)), [key]: pick(words), ok: random() < 0.5, list: [1, 2, 3] };
    const json = JSON.stringify(object);
    const text = pass ? json : json.replace(/}$/, ',}');
    return { text, tags: ['json', 'contains'], expected: `"${key}"`, asserts: [['is-json'], ['contains']] };
  },
  (pass) => {  // levenshtein
    const reference = forty();
    const text = substitute(reference, pass ? Math.floor(random() * 4) : 7 + Math.floor(random() * 4));
    return { text, tags: ['levenshtein'], expected: reference, asserts: [['levenshtein']] };
  },
];

const cases = [];
for (let i = 0; i < count; i++) {
  const pass = random() < 0.6;
  const c = kinds[i % kinds.length](pass);
  cases.push({ id: `case-${String(i + 1).padStart(4, '0')}`, pass, ...c });
}

mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'cases.jsonl'), cases.map((c) => JSON.stringify({
  id: c.id, messages: [{ role: 'user', content: c.text }], ...(c.expected ? { expected: c.expected } : {}), tags: c.tags,
})).join('\n') + '\n');
writeFileSync(join(outDir, 'expected.json'), JSON.stringify(Object.fromEntries(cases.map((c) => [c.id, c.pass]))));

const toml = (s) => `'${s}'`;  // a TOML literal string: no escapes (none of the patterns holds a ')
writeFileSync(join(outDir, 'eval.toml'), `# Generated by gen.mjs: the Outrigger side of the promptfoo comparison.
name = "promptfoo side by side"
dataset = "cases.jsonl"
concurrency = 8
timeout_ms = 10000
retries = 0
min_pass_rate = 0.0

[[targets]]
name = "echo"
route = "bench-model"

[[scorers]]
type = "exact"
tags = ["exact"]

[[scorers]]
type = "contains"
tags = ["contains"]

[[scorers]]
name = "icontains"
type = "contains"
ignore_case = true
tags = ["icontains"]
${Object.entries(regexes).map(([tag, pattern]) => `
[[scorers]]
name = "${tag}"
type = "regex"
pattern = ${toml(pattern)}
tags = ["${tag}"]
`).join('')}
[[scorers]]
type = "json_valid"
tags = ["json"]

[[scorers]]
type = "levenshtein"
threshold = 0.875
tags = ["levenshtein"]
`);

// promptfoo: the prompt is a JSON chat template, so promptfoo renders the var inside the message as
// a JSON string; a plain text prompt that happened to be JSON would be read as the message list.
const tests = cases.map((c) => ({
  description: c.id,
  vars: { text: c.text },
  assert: c.asserts.map(([type, value]) => {
    if (type === 'is-json') return { type };
    if (type === 'levenshtein') return { type, value: c.expected, threshold: 5 };
    return { type, value: value ?? c.expected };
  }),
}));
baseUrls.forEach((url, n) => {
  const config = {
    description: 'promptfoo side by side',
    prompts: ['[{"role": "user", "content": "{{text}}"}]'],
    providers: [{ id: 'openai:chat:bench-model', config: { apiBaseUrl: url, apiKey: 'sk-bench-unused' } }],
    tests,
  };
  // JSON is YAML: written as JSON so no value needs YAML quoting.
  const name = n === 0 ? 'promptfooconfig.yaml' : `promptfooconfig-${n + 1}.yaml`;
  writeFileSync(join(outDir, name), `# Generated by gen.mjs: the promptfoo side of the comparison.\n${JSON.stringify(config, null, 1)}\n`);
});
console.log(`${count} cases, ${cases.filter((c) => c.pass).length} should pass`);
