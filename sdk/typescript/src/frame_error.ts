/** Thrown when bytes are not a well-formed Outrigger frame. */
export class FrameFormatError extends Error {
  override readonly name = 'FrameFormatError';
}
