// The committed generated code matches what flatc produces from the schema today.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const schema = path.resolve(root, '../../schemas/outrigger.fbs');
const flatc = process.env['FLATC'] ?? 'flatc';

function flatcVersion(): string | null {
  try {
    return execFileSync(flatc, ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

const version = flatcVersion();
const skip = version === null
  ? `${flatc} is not installed`
  : version.startsWith('flatc version 2.0.') ? false : `${version} is not the 2.0.x generator`;

test('src/generated is up to date with schemas/outrigger.fbs (npm run generate)', { skip }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outrigger-ts-gen-'));
  try {
    execFileSync(flatc, ['--ts', '--ts-flat-files', '-o', dir, schema]);
    const fresh = fs.readFileSync(path.join(dir, 'outrigger_generated.ts'), 'utf8');
    const committed = fs.readFileSync(path.join(root, 'src/generated/outrigger_generated.ts'), 'utf8');
    assert.ok(fresh === committed, 'regenerate with `npm run generate` and commit the result');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
