// @outrigger/client: TypeScript client for the Outrigger sidecar.

export { OutriggerClient } from './client.js';
export type { ClientOptions, ClientStats } from './client.js';
export { resolveSocketPath, defaultSocketCandidates, SOCKET_ENV } from './socket_path.js';
export { ORIGIN_VERIFY } from './verify.js';
export { ChatStream } from './stream.js';
export {
  OutriggerError,
  isOutriggerError,
  statusName,
  statusNumber,
  allStatusCodes,
  ORIGIN_CLIENT,
  ORIGIN_CONNECTION,
  ORIGIN_HANDSHAKE,
} from './errors.js';
export type { StatusCode, OutriggerErrorInit } from './errors.js';
export { mergeMetadata } from './metadata.js';
export { describeFrame, describeFrameBody } from './describe.js';
export type { Json } from './describe.js';
export {
  encodeRequest,
  encodeCancel,
  encodeFeedback,
  encodeHello,
  decodeFrame,
  Features,
  PROTO_MAJOR,
  PROTO_MINOR,
  DEFAULT_MAX_FRAME_SIZE,
  HARD_MAX_FRAME_SIZE,
  FrameFormatError,
} from './codec.js';
export type { InboundFrame, EndFrame, RequestFrameInit, FeedbackInit, HelloInit } from './codec.js';
export { FrameReader, FrameSizeError } from './framing.js';
export { VERSION } from './version.js';
export type * from './types.js';
