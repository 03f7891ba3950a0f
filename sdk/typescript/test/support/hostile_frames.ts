// Intact frames with one 32-bit value overwritten, as a corrupt or hostile peer could send them.
// Positions are found with the generated readers on the intact frame.

import * as flatbuffers from 'flatbuffers';
import * as wire from '../../src/generated/outrigger_generated.js';

/** A field of the frame's body table by its 0-based declaration slot in the schema. */
export interface BodyField {
  slot: number;
}

/** Field slots (declaration order in schemas/outrigger.fbs) used by the tests. */
export const END_TOOL_CALLS: BodyField = { slot: 7 };
export const END_USAGE: BodyField = { slot: 8 };
export const END_VERDICTS: BodyField = { slot: 12 };
export const END_CONTENT: BodyField = { slot: 5 };
export const CHUNK_DELTA: BodyField = { slot: 1 };
export const CHUNK_TOOL_CALLS: BodyField = { slot: 2 };

/** Offsets into a size-prefixed frame: the body table's field, and what that field points at. */
export interface FieldPositions {
  /** Where the field's 32-bit offset is stored. */
  field: number;
  /** Where the pointed-at vector or string stores its length (or a table its vtable offset). */
  target: number;
}

function root(sizePrefixed: Uint8Array): { bb: flatbuffers.ByteBuffer; frame: wire.Frame } {
  const bb = new flatbuffers.ByteBuffer(sizePrefixed.subarray(4));
  return { bb, frame: wire.Frame.getRootAsFrame(bb) };
}

export function fieldPositions(sizePrefixed: Uint8Array, field: BodyField): FieldPositions {
  const { bb, frame } = root(sizePrefixed);
  // Any table type reads the body's position; only the position is used.
  const body = frame.body(new wire.ResponseEnd()) as { bb_pos: number } | null;
  if (body === null) throw new Error('frame without a body');
  const at = bb.__offset(body.bb_pos, 4 + 2 * field.slot);
  if (at === 0) throw new Error(`body field ${field.slot} is not set`);
  const fieldPos = body.bb_pos + at;
  return { field: fieldPos + 4, target: bb.__indirect(fieldPos) + 4 };
}

/** Where the Frame table stores the offset to its body. */
export function bodyOffsetPosition(sizePrefixed: Uint8Array): number {
  const { bb, frame } = root(sizePrefixed);
  // Frame fields: stream_id (slot 0), body_type (1), body (2).
  return frame.bb_pos + bb.__offset(frame.bb_pos, 4 + 2 * 2) + 4;
}

/** A copy of `sizePrefixed` with the little-endian u32 at `position` set to `value`. */
export function patched(sizePrefixed: Uint8Array, position: number, value: number): Uint8Array {
  const copy = sizePrefixed.slice();
  new DataView(copy.buffer).setUint32(position, value >>> 0, true);
  return copy;
}
