import type { Metadata } from './types.js';

const FIELDS = [
  'tenant', 'user', 'session', 'requestId', 'promptId', 'promptVersion', 'traceparent',
] as const;

/**
 * Merges per-call metadata over the client's defaults: each field set on the call wins, and
 * tags merge key by key. An empty string is unset, as in every SDK, so a call cannot blank out
 * a default by accident. Returns undefined when neither side has metadata, so no table is
 * written.
 */
export function mergeMetadata(defaults?: Metadata, call?: Metadata): Metadata | undefined {
  if (defaults === undefined) return call;
  if (call === undefined) return defaults;
  const merged: Metadata = {};
  for (const field of FIELDS) {
    const value = call[field] || defaults[field];
    if (value !== undefined) merged[field] = value;
  }
  if (defaults.tags !== undefined || call.tags !== undefined) {
    merged.tags = { ...defaults.tags, ...call.tags };
  }
  return merged;
}
