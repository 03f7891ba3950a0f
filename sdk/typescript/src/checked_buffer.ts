// A FlatBuffers ByteBuffer that refuses to read outside its bytes. The JavaScript runtime has no
// verifier and reads past the end as 0, so a corrupt or hostile length would make decoding loop
// over garbage (a vector length of 2^31 exhausts the heap). The generated accessors read only
// through these methods, so every vector, string, table and scalar read of a frame is checked.
// Offsets inside the frame may still all point at one string, so the bytes decoded are counted
// too: otherwise a 4 MiB frame of offsets to one 2 MiB string would decode to terabytes.

import * as flatbuffers from 'flatbuffers';
import { FrameFormatError } from './frame_error.js';

/**
 * Every vector in the Outrigger schema holds tables or strings, whose elements are 4-byte
 * offsets (codec tests check the schema still says so).
 */
const VECTOR_ELEMENT_SIZE = 4;
/** A table starts with its 4-byte vtable offset; a vector or string with its 4-byte length. */
const HEADER_SIZE = 4;
/**
 * Decoding a frame written normally reads each string and vector element once, so it decodes
 * to at most the frame's size; this leaves room for a caller reading a field twice.
 */
const DECODE_BUDGET_FACTOR = 4;
const DECODE_BUDGET_SLACK = 64 * 1024;

export class CheckedByteBuffer extends flatbuffers.ByteBuffer {
  /** Bytes of strings and vector elements this frame may still decode to. */
  #decodeBudget: number;

  constructor(bytes: Uint8Array) {
    super(bytes);
    this.#decodeBudget = DECODE_BUDGET_FACTOR * bytes.length + DECODE_BUDGET_SLACK;
  }

  override readUint8(offset: number): number {
    this.#need(offset, 1, 'byte');
    return super.readUint8(offset);
  }

  override readUint16(offset: number): number {
    this.#need(offset, 2, '16-bit field');
    return super.readUint16(offset);
  }

  // readInt8/16, readUint32, 64-bit and float reads are built on these three in the runtime.
  override readInt32(offset: number): number {
    this.#need(offset, 4, '32-bit field');
    return super.readInt32(offset);
  }

  override __offset(tablePos: number, vtableOffset: number): number {
    const vtable = tablePos - this.readInt32(tablePos);
    this.#need(vtable, 4, 'vtable');
    const vtableSize = this.readUint16(vtable);
    if (vtableSize < 4 || vtableSize % 2 !== 0) {
      throw new FrameFormatError(`vtable at byte ${vtable} has an invalid size of ${vtableSize}`);
    }
    this.#need(vtable, vtableSize, 'vtable');
    return vtableOffset < vtableSize ? this.readUint16(vtable + vtableOffset) : 0;
  }

  /** Follows the unsigned offset stored at `offset` to a table, vector or string. */
  override __indirect(offset: number): number {
    const target = offset + this.readUint32(offset);
    this.#need(target, HEADER_SIZE, 'offset target');
    return target;
  }

  override __union(t: flatbuffers.Table, offset: number): flatbuffers.Table {
    t.bb_pos = this.__indirect(offset);
    t.bb = this;
    return t;
  }

  /** The generated accessors call this once per element read, so each counts here. */
  override __vector(offset: number): number {
    this.#spend(VECTOR_ELEMENT_SIZE);
    return this.__indirect(offset) + HEADER_SIZE;
  }

  override __vector_len(offset: number): number {
    const vector = this.__indirect(offset);
    return this.#length(vector, VECTOR_ELEMENT_SIZE, 'vector');
  }

  override __string(offset: number, encoding?: flatbuffers.Encoding): string | Uint8Array {
    this.#spend(this.#length(this.__indirect(offset), 1, 'string'));
    return super.__string(offset, encoding);
  }

  /** The element count stored at `pos`, checked to fit in the buffer. */
  #length(pos: number, elementSize: number, what: string): number {
    const n = this.readInt32(pos);
    const start = pos + HEADER_SIZE;
    if (n < 0 || start + elementSize * n > this.capacity()) {
      throw new FrameFormatError(
        `${what} of ${n >>> 0} elements at byte ${pos} overruns the ${this.capacity()}-byte frame`);
    }
    return n;
  }

  #spend(bytes: number): void {
    this.#decodeBudget -= bytes;
    if (this.#decodeBudget < 0) {
      throw new FrameFormatError(`the ${this.capacity()}-byte frame decodes to more than ` +
        `${DECODE_BUDGET_FACTOR} times its size: its offsets share data`);
    }
  }

  #need(pos: number, size: number, what: string): void {
    if (!Number.isInteger(pos) || pos < 0 || pos + size > this.capacity()) {
      throw new FrameFormatError(`${what} at byte ${pos} is outside the ${this.capacity()}-byte frame`);
    }
  }
}
