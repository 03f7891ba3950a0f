// Small helpers shared by the client tests.

import assert from 'node:assert/strict';
import { OutriggerError } from '../../src/index.js';

/** A one-message request. */
export const user = (content: string) => ({ model: 'mock-1', messages: [{ role: 'user', content }] });

/** The OutriggerError `p` rejects with; fails the test if it resolves or rejects otherwise. */
export async function rejection(p: Promise<unknown>): Promise<OutriggerError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof OutriggerError, `expected OutriggerError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the call to fail');
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
