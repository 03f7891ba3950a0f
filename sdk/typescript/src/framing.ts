// Splits a byte stream into frames: a little-endian u32 length L, then L bytes.

import { MIN_FRAME_SIZE } from './codec.js';

/** A length prefix outside [MIN_FRAME_SIZE, max]: the stream cannot be resynchronised. */
export class FrameSizeError extends Error {
  override readonly name = 'FrameSizeError';
  constructor(readonly length: number, readonly limit: number) {
    super(length < MIN_FRAME_SIZE
      ? `frame length ${length} is below the minimum of ${MIN_FRAME_SIZE}`
      : `frame length ${length} exceeds the negotiated maximum of ${limit}`);
  }
}

/**
 * Incremental frame splitter. The length is checked before any memory is set aside for the
 * frame, and each frame body is copied into its own freshly allocated (hence 8-byte aligned)
 * buffer, filled as bytes arrive, so a large frame is never re-copied per socket read.
 */
export class FrameReader {
  #maxFrameSize: number;
  readonly #header = new Uint8Array(4);
  #headerFill = 0;
  #body: Uint8Array | null = null;
  #bodyFill = 0;

  constructor(maxFrameSize: number) {
    this.#maxFrameSize = maxFrameSize;
  }

  get maxFrameSize(): number {
    return this.#maxFrameSize;
  }

  /** Applies a new limit (after the handshake) to every frame whose prefix is not yet read. */
  set maxFrameSize(limit: number) {
    this.#maxFrameSize = limit;
  }

  /**
   * Consumes `chunk` and returns the frame bodies it completed, in order. Throws
   * {@link FrameSizeError} on a bad length prefix; the reader is unusable afterwards.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    const frames: Uint8Array[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.#body === null) {
        const take = Math.min(4 - this.#headerFill, chunk.length - pos);
        this.#header.set(chunk.subarray(pos, pos + take), this.#headerFill);
        this.#headerFill += take;
        pos += take;
        if (this.#headerFill < 4) break;
        const h = this.#header;
        const length = (h[0]! | (h[1]! << 8) | (h[2]! << 16) | (h[3]! << 24)) >>> 0;
        if (length < MIN_FRAME_SIZE || length > this.#maxFrameSize) {
          throw new FrameSizeError(length, this.#maxFrameSize);
        }
        this.#body = new Uint8Array(length);
        this.#bodyFill = 0;
        this.#headerFill = 0;
      }
      const body = this.#body;
      const take = Math.min(body.length - this.#bodyFill, chunk.length - pos);
      body.set(chunk.subarray(pos, pos + take), this.#bodyFill);
      this.#bodyFill += take;
      pos += take;
      if (this.#bodyFill === body.length) {
        frames.push(body);
        this.#body = null;
      }
    }
    return frames;
  }

  /** True when no partial frame is buffered. */
  get idle(): boolean {
    return this.#body === null && this.#headerFill === 0;
  }
}
