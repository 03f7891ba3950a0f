// Builds outgoing frames and reads incoming ones with the flatc-generated code.
//
// Every encoder returns one complete size-prefixed frame (u32 length + Frame with identifier
// ORG1), ready to write to the socket. Decoders take the bytes after the length prefix.

import * as flatbuffers from 'flatbuffers';
import * as wire from './generated/outrigger_generated.js';
import { CheckedByteBuffer } from './checked_buffer.js';
import { statusName, type StatusCode } from './errors.js';
import { FrameFormatError } from './frame_error.js';
import type {
  CacheControl,
  ChatRequest,
  GuardrailVerdict,
  Message,
  Metadata,
  Params,
  ServerInfo,
  StreamChunk,
  StreamStart,
  Tool,
  ToolCall,
  ToolCallDelta,
  Usage,
  VerdictKind,
} from './types.js';

export const PROTO_MAJOR = 1;
export const PROTO_MINOR = 0;
export const DEFAULT_MAX_FRAME_SIZE = 4 * 1024 * 1024;
export const HARD_MAX_FRAME_SIZE = 64 * 1024 * 1024;
/** The smallest legal frame: root offset + file identifier. */
export const MIN_FRAME_SIZE = 8;
export const FILE_IDENTIFIER = 'ORG1';

/** Feature bits, from the schema's `Feature` bit flags. */
export const Features = {
  Streaming: BigInt(wire.Feature.Streaming),
  Cancel: BigInt(wire.Feature.Cancel),
  Feedback: BigInt(wire.Feature.Feedback),
  GoAway: BigInt(wire.Feature.GoAway),
} as const;
export const ALL_FEATURES =
  Features.Streaming | Features.Cancel | Features.Feedback | Features.GoAway;

type Builder = flatbuffers.Builder;
type Offset = flatbuffers.Offset;

// Encoding is synchronous, so one builder serves every frame this process writes.
const builder = new flatbuffers.Builder(1024);

function finish(streamId: number, bodyType: wire.Body, body: Offset): Uint8Array {
  const frame = wire.Frame.createFrame(builder, BigInt(streamId), bodyType, body);
  wire.Frame.finishSizePrefixedFrameBuffer(builder, frame);
  // asUint8Array() views the builder's scratch memory: copy before the next frame reuses it.
  return builder.asUint8Array().slice();
}

function str(b: Builder, value: string | undefined): Offset {
  return value === undefined ? 0 : b.createString(value);
}

function jsonText(value: string | Record<string, unknown> | undefined): string | undefined {
  return value === undefined || typeof value === 'string' ? value : JSON.stringify(value);
}

// flatc 2.0.8's TypeScript generator gives optional (`= null`) scalars a default of 0, so its
// add* functions would silently drop an explicit 0 (temperature 0 is common). Forcing
// defaults around the call writes the field whenever the caller set it.
function forced(b: Builder, add: () => void): void {
  b.forceDefaults(true);
  try {
    add();
  } finally {
    b.forceDefaults(false);
  }
}

export interface HelloInit {
  clientName: string;
  clientVersion: string;
  sdkLanguage: string;
  maxFrameSize: number;
  features: bigint;
}

export function encodeHello(init: HelloInit): Uint8Array {
  builder.clear();
  const name = builder.createString(init.clientName);
  const version = builder.createString(init.clientVersion);
  const language = builder.createString(init.sdkLanguage);
  const hello = wire.Hello.createHello(
    builder, PROTO_MAJOR, PROTO_MINOR, name, version, language, init.maxFrameSize, init.features,
  );
  return finish(0, wire.Body.Hello, hello);
}

function toolCall(b: Builder, call: ToolCall): Offset {
  const id = str(b, call.id);
  const type = str(b, call.type);
  const name = str(b, call.name);
  const args = str(b, call.arguments);
  return wire.ToolCall.createToolCall(b, id, type, name, args);
}

function message(b: Builder, m: Message): Offset {
  const role = str(b, m.role);
  const content = str(b, m.content);
  const name = str(b, m.name);
  const calls = m.toolCalls === undefined
    ? 0
    : wire.Message.createToolCallsVector(b, m.toolCalls.map((c) => toolCall(b, c)));
  const callId = str(b, m.toolCallId);
  return wire.Message.createMessage(b, role, content, name, calls, callId);
}

function tool(b: Builder, t: Tool): Offset {
  const type = str(b, t.type);
  const name = str(b, t.name);
  const description = str(b, t.description);
  const parameters = str(b, jsonText(t.parameters));
  return wire.Tool.createTool(b, type, name, description, parameters);
}

const FORMAT_TYPES: Record<string, wire.ResponseFormatType> = {
  Text: wire.ResponseFormatType.Text,
  JsonObject: wire.ResponseFormatType.JsonObject,
  JsonSchema: wire.ResponseFormatType.JsonSchema,
};

function params(b: Builder, p: Params): Offset {
  const stop = p.stop === undefined
    ? 0
    : wire.Params.createStopVector(b, p.stop.map((s) => b.createString(s)));
  const tools = p.tools === undefined
    ? 0
    : wire.Params.createToolsVector(b, p.tools.map((t) => tool(b, t)));
  const toolChoice = str(b, p.toolChoice);
  let format = 0;
  if (p.responseFormat !== undefined) {
    const rf = p.responseFormat;
    const type = FORMAT_TYPES[rf.type ?? 'Text'];
    if (type === undefined) throw new TypeError(`unknown response format type ${rf.type}`);
    const schemaName = str(b, rf.schemaName);
    const schema = str(b, jsonText(rf.schema));
    format = wire.ResponseFormat.createResponseFormat(b, type, schemaName, schema, rf.strict ?? false);
  }
  const extra = str(b, jsonText(p.extra));

  wire.Params.startParams(b);
  if (p.temperature !== undefined) forced(b, () => wire.Params.addTemperature(b, p.temperature!));
  if (p.topP !== undefined) forced(b, () => wire.Params.addTopP(b, p.topP!));
  if (p.maxTokens !== undefined) forced(b, () => wire.Params.addMaxTokens(b, p.maxTokens!));
  if (p.seed !== undefined) forced(b, () => wire.Params.addSeed(b, BigInt(p.seed!)));
  if (stop) wire.Params.addStop(b, stop);
  if (tools) wire.Params.addTools(b, tools);
  if (toolChoice) wire.Params.addToolChoice(b, toolChoice);
  if (format) wire.Params.addResponseFormat(b, format);
  if (extra) wire.Params.addExtraJson(b, extra);
  return wire.Params.endParams(b);
}

function metadata(b: Builder, m: Metadata): Offset {
  const tenant = str(b, m.tenant);
  const user = str(b, m.user);
  const session = str(b, m.session);
  const requestId = str(b, m.requestId);
  const promptId = str(b, m.promptId);
  const promptVersion = str(b, m.promptVersion);
  const tags = m.tags === undefined
    ? 0
    : wire.Metadata.createTagsVector(
      b,
      Object.entries(m.tags).map(([k, v]) =>
        wire.Tag.createTag(b, b.createString(k), b.createString(v))),
    );
  const traceparent = str(b, m.traceparent);
  return wire.Metadata.createMetadata(
    b, tenant, user, session, requestId, promptId, promptVersion, tags, traceparent,
  );
}

function cacheControl(b: Builder, c: CacheControl): Offset {
  return wire.CacheControl.createCacheControl(b, c.bypass ?? false, c.noStore ?? false, c.ttlMs ?? 0);
}

export interface RequestFrameInit {
  streamId: number;
  request: ChatRequest;
  stream: boolean;
  /** 0: the daemon's default. */
  timeoutMs: number;
}

/** Builds a `Request` frame. `request.metadata` is written as given (merge defaults first). */
export function encodeRequest(init: RequestFrameInit): Uint8Array {
  const b = builder;
  const r = init.request;
  b.clear();
  const model = str(b, r.model);
  const messages = r.messages === undefined
    ? 0
    : wire.Request.createMessagesVector(b, r.messages.map((m) => message(b, m)));
  const p = r.params === undefined ? 0 : params(b, r.params);
  const meta = r.metadata === undefined ? 0 : metadata(b, r.metadata);
  const cache = r.cache === undefined ? 0 : cacheControl(b, r.cache);

  wire.Request.startRequest(b);
  if (model) wire.Request.addModel(b, model);
  if (messages) wire.Request.addMessages(b, messages);
  if (p) wire.Request.addParams(b, p);
  wire.Request.addStream(b, init.stream);
  if (meta) wire.Request.addMetadata(b, meta);
  wire.Request.addTimeoutMs(b, init.timeoutMs);
  if (cache) wire.Request.addCache(b, cache);
  return finish(init.streamId, wire.Body.Request, wire.Request.endRequest(b));
}

export function encodeCancel(streamId: number, reason?: string): Uint8Array {
  builder.clear();
  const cancel = wire.Cancel.createCancel(builder, str(builder, reason));
  return finish(streamId, wire.Body.Cancel, cancel);
}

export interface FeedbackInit {
  traceId: string;
  score: number;
  comment?: string;
  metadata?: Metadata;
}

export function encodeFeedback(streamId: number, init: FeedbackInit): Uint8Array {
  const b = builder;
  b.clear();
  const traceId = b.createString(init.traceId);
  const comment = str(b, init.comment);
  const meta = init.metadata === undefined ? 0 : metadata(b, init.metadata);
  wire.Feedback.startFeedback(b);
  wire.Feedback.addTraceId(b, traceId);
  wire.Feedback.addScore(b, init.score);
  if (comment) wire.Feedback.addComment(b, comment);
  if (meta) wire.Feedback.addMetadata(b, meta);
  return finish(streamId, wire.Body.Feedback, wire.Feedback.endFeedback(b));
}

export function encodePing(opaque: bigint): Uint8Array {
  builder.clear();
  return finish(0, wire.Body.Ping, wire.Ping.createPing(builder, opaque));
}

export function encodePong(opaque: bigint): Uint8Array {
  builder.clear();
  return finish(0, wire.Body.Pong, wire.Pong.createPong(builder, opaque));
}

// ---------------------------------------------------------------------------- decoding

/** A `ResponseEnd`, decoded. */
export interface EndFrame {
  status: number;
  code: StatusCode;
  retryable: boolean;
  retryAfterMs: number;
  origin?: string;
  message?: string;
  content?: string;
  finishReason?: string;
  toolCalls?: ToolCall[];
  usage?: Usage;
  costUsd: number;
  cacheHit: boolean;
  traceId?: string;
  verdicts: GuardrailVerdict[];
  model?: string;
  reachedProvider: boolean;
  refusal: boolean;
  systemFingerprint?: string;
  serviceTier?: string;
}

export interface ErrorFrame {
  status: number;
  code: StatusCode;
  message?: string;
  supportedMajorMin: number;
  supportedMajorMax: number;
}

export interface GoAwayFrame {
  lastStreamId: number;
  reason?: string;
  drainMs: number;
}

/** One inbound frame, reduced to what a client acts on. */
export type InboundFrame =
  | { streamId: number; kind: 'HelloAck'; ack: ServerInfo }
  | { streamId: number; kind: 'ResponseStart'; start: StreamStart }
  | { streamId: number; kind: 'ResponseChunk'; chunk: StreamChunk }
  | { streamId: number; kind: 'ResponseEnd'; end: EndFrame }
  | { streamId: number; kind: 'Error'; error: ErrorFrame }
  | { streamId: number; kind: 'Ping'; opaque: bigint }
  | { streamId: number; kind: 'Pong'; opaque: bigint }
  | { streamId: number; kind: 'GoAway'; goAway: GoAwayFrame }
  /** A body a client never receives, or one newer than this SDK. */
  | { streamId: number; kind: 'Other'; bodyType: number };

export { FrameFormatError };

function opt(value: string | null): string | undefined {
  return value === null ? undefined : value;
}

/**
 * Cheap structural checks before reading: the identifier, the root table and its vtable. Every
 * later read is bounds-checked by {@link CheckedByteBuffer}.
 */
export function checkFrame(bytes: Uint8Array): void {
  if (bytes.length < MIN_FRAME_SIZE) {
    throw new FrameFormatError(`frame of ${bytes.length} bytes is shorter than ${MIN_FRAME_SIZE}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ident = String.fromCharCode(bytes[4]!, bytes[5]!, bytes[6]!, bytes[7]!);
  if (ident !== FILE_IDENTIFIER) {
    throw new FrameFormatError(`file identifier is ${JSON.stringify(ident)}, want ${FILE_IDENTIFIER}`);
  }
  const root = view.getUint32(0, true);
  if (root + 4 > bytes.length) throw new FrameFormatError('root table offset out of range');
  const vtable = root - view.getInt32(root, true);
  if (vtable < 0 || vtable + 4 > bytes.length) throw new FrameFormatError('vtable out of range');
  const vtableSize = view.getUint16(vtable, true);
  if (vtableSize < 4 || vtable + vtableSize > bytes.length) {
    throw new FrameFormatError('vtable size out of range');
  }
}

/**
 * Reads the root `Frame` of a frame body (the bytes after the length prefix). Its accessors
 * throw {@link FrameFormatError} on any read outside the bytes.
 */
export function frameRoot(bytes: Uint8Array): wire.Frame {
  checkFrame(bytes);
  return wire.Frame.getRootAsFrame(new CheckedByteBuffer(bytes));
}

function usage(u: wire.Usage | null): Usage | undefined {
  if (u === null) return undefined;
  return {
    promptTokens: u.promptTokens(),
    completionTokens: u.completionTokens(),
    cachedTokens: u.cachedTokens(),
    reasoningTokens: u.reasoningTokens(),
    cacheWriteTokens: u.cacheWriteTokens(),
  };
}

function readToolCall(t: wire.ToolCall): ToolCall {
  const out: ToolCall = {};
  const id = t.id();
  const type = t.type();
  const name = t.name();
  const args = t.arguments_();
  if (id !== null) out.id = id;
  if (type !== null) out.type = type;
  if (name !== null) out.name = name;
  if (args !== null) out.arguments = args;
  return out;
}

export function verdictName(v: number): VerdictKind {
  return (wire.Verdict[v] as VerdictKind | undefined) ?? 'Error';
}

function decodeEnd(e: wire.ResponseEnd): EndFrame {
  const status = e.status();
  const end: EndFrame = {
    status,
    code: statusName(status),
    retryable: e.retryable(),
    retryAfterMs: e.retryAfterMs(),
    costUsd: e.costUsd(),
    cacheHit: e.cacheHit(),
    verdicts: [],
    reachedProvider: e.reachedProvider(),
    refusal: e.refusal(),
  };
  const origin = opt(e.origin());
  const message = opt(e.message());
  const content = opt(e.content());
  const finishReason = opt(e.finishReason());
  const traceId = opt(e.traceId());
  const model = opt(e.model());
  const systemFingerprint = opt(e.systemFingerprint());
  const serviceTier = opt(e.serviceTier());
  const u = usage(e.usage());
  if (origin !== undefined) end.origin = origin;
  if (message !== undefined) end.message = message;
  if (content !== undefined) end.content = content;
  if (finishReason !== undefined) end.finishReason = finishReason;
  if (traceId !== undefined) end.traceId = traceId;
  if (model !== undefined) end.model = model;
  if (systemFingerprint !== undefined) end.systemFingerprint = systemFingerprint;
  if (serviceTier !== undefined) end.serviceTier = serviceTier;
  if (u !== undefined) end.usage = u;
  const calls = e.toolCallsLength();
  if (calls > 0) {
    end.toolCalls = [];
    for (let i = 0; i < calls; i++) end.toolCalls.push(readToolCall(e.toolCalls(i)!));
  }
  for (let i = 0; i < e.verdictsLength(); i++) {
    const v = e.verdicts(i)!;
    const verdict: GuardrailVerdict = { verdict: verdictName(v.verdict()) };
    const guardrail = opt(v.guardrail());
    const reason = opt(v.reason());
    if (guardrail !== undefined) verdict.guardrail = guardrail;
    if (reason !== undefined) verdict.reason = reason;
    end.verdicts.push(verdict);
  }
  return end;
}

function decodeStart(s: wire.ResponseStart): StreamStart {
  const start: StreamStart = { cacheHit: s.cacheHit() };
  const model = opt(s.model());
  const provider = opt(s.provider());
  const traceId = opt(s.traceId());
  const systemFingerprint = opt(s.systemFingerprint());
  const serviceTier = opt(s.serviceTier());
  if (model !== undefined) start.model = model;
  if (provider !== undefined) start.provider = provider;
  if (traceId !== undefined) start.traceId = traceId;
  if (systemFingerprint !== undefined) start.systemFingerprint = systemFingerprint;
  if (serviceTier !== undefined) start.serviceTier = serviceTier;
  return start;
}

function decodeChunk(c: wire.ResponseChunk): StreamChunk {
  const chunk: StreamChunk = { seq: c.seq(), delta: c.delta() ?? '', toolCalls: [], refusal: c.refusal() };
  for (let i = 0; i < c.toolCallsLength(); i++) {
    const t = c.toolCalls(i)!;
    const delta: ToolCallDelta = { index: t.index() };
    const id = opt(t.id());
    const type = opt(t.type());
    const name = opt(t.name());
    const args = opt(t.arguments_());
    if (id !== undefined) delta.id = id;
    if (type !== undefined) delta.type = type;
    if (name !== undefined) delta.name = name;
    if (args !== undefined) delta.arguments = args;
    chunk.toolCalls.push(delta);
  }
  return chunk;
}

function decodeAck(a: wire.HelloAck): ServerInfo {
  const info: ServerInfo = {
    protoMajor: a.protoMajor(),
    protoMinor: a.protoMinor(),
    maxFrameSize: a.maxFrameSize(),
    maxConcurrentStreams: a.maxConcurrentStreams(),
    features: a.features(),
    heartbeatMs: a.heartbeatMs(),
  };
  const version = opt(a.serverVersion());
  if (version !== undefined) info.serverVersion = version;
  return info;
}

function decodeError(e: wire.Error): ErrorFrame {
  const status = e.status();
  const out: ErrorFrame = {
    status,
    code: statusName(status),
    supportedMajorMin: e.supportedMajorMin(),
    supportedMajorMax: e.supportedMajorMax(),
  };
  const message = opt(e.message());
  if (message !== undefined) out.message = message;
  return out;
}

/**
 * Decodes a frame body (without its length prefix). Throws {@link FrameFormatError} when the
 * bytes are not a frame, when any offset, vector or string reaches outside them, or when a
 * known body type has no body.
 */
export function decodeFrame(bytes: Uint8Array): InboundFrame {
  const frame = frameRoot(bytes);
  const streamId = Number(frame.streamId());
  const type = frame.bodyType();
  const body = <T>(make: new () => T): T => {
    const b = frame.body(new make()) as T | null;
    if (b === null) throw new FrameFormatError(`${wire.Body[type]} frame without a body`);
    return b;
  };
  switch (type) {
    case wire.Body.HelloAck:
      return { streamId, kind: 'HelloAck', ack: decodeAck(body(wire.HelloAck)) };
    case wire.Body.ResponseStart:
      return { streamId, kind: 'ResponseStart', start: decodeStart(body(wire.ResponseStart)) };
    case wire.Body.ResponseChunk:
      return { streamId, kind: 'ResponseChunk', chunk: decodeChunk(body(wire.ResponseChunk)) };
    case wire.Body.ResponseEnd:
      return { streamId, kind: 'ResponseEnd', end: decodeEnd(body(wire.ResponseEnd)) };
    case wire.Body.Error:
      return { streamId, kind: 'Error', error: decodeError(body(wire.Error)) };
    case wire.Body.Ping:
      return { streamId, kind: 'Ping', opaque: body(wire.Ping).opaque() };
    case wire.Body.Pong:
      return { streamId, kind: 'Pong', opaque: body(wire.Pong).opaque() };
    case wire.Body.GoAway: {
      const g = body(wire.GoAway);
      const goAway: GoAwayFrame = { lastStreamId: Number(g.lastStreamId()), drainMs: g.drainMs() };
      const reason = opt(g.reason());
      if (reason !== undefined) goAway.reason = reason;
      return { streamId, kind: 'GoAway', goAway };
    }
    default:
      return { streamId, kind: 'Other', bodyType: type };
  }
}
