// The canonical JSON description of a frame, as defined in schemas/vectors/README.md. Every
// SDK and the C++ `frame_describe` tool produce the same description for the same bytes,
// which is how the shared test vectors check the generated code of each language.
//
// Rules: schema (snake_case) field names; scalars always present; optional scalars only when
// set; strings, tables and vectors only when set; enums by name; bit flags and 64-bit
// integers as plain numbers.

import * as wire from './generated/outrigger_generated.js';
import { frameRoot, FrameFormatError } from './codec.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Obj = { [key: string]: Json };

/** The part of a generated table this module needs to test field presence. */
interface TableView {
  bb: { __offset(pos: number, vtableOffset: number): number } | null;
  bb_pos: number;
}

/** True when field number `slot` (0-based, declaration order) is stored in the table. */
function present(t: TableView, slot: number): boolean {
  return t.bb!.__offset(t.bb_pos, 4 + 2 * slot) !== 0;
}

function enumName(names: Record<number, string>, value: number): Json {
  return names[value] ?? value;
}

/** Sets `out[key]` when `value` is not null (strings and tables that are absent). */
function put(out: Obj, key: string, value: Json | undefined): void {
  if (value !== null && value !== undefined) out[key] = value;
}

function vector<T>(
  t: TableView, slot: number, length: number, at: (i: number) => T, describe: (x: T) => Json,
): Json | undefined {
  if (!present(t, slot)) return undefined;
  const out: Json[] = [];
  for (let i = 0; i < length; i++) out.push(describe(at(i)));
  return out;
}

function hello(h: wire.Hello): Obj {
  const o: Obj = { proto_major: h.protoMajor(), proto_minor: h.protoMinor() };
  put(o, 'client_name', h.clientName());
  put(o, 'client_version', h.clientVersion());
  put(o, 'sdk_language', h.sdkLanguage());
  o.max_frame_size = h.maxFrameSize();
  o.features = Number(h.features());
  return o;
}

function helloAck(a: wire.HelloAck): Obj {
  const o: Obj = { proto_major: a.protoMajor(), proto_minor: a.protoMinor() };
  put(o, 'server_version', a.serverVersion());
  o.max_frame_size = a.maxFrameSize();
  o.max_concurrent_streams = a.maxConcurrentStreams();
  o.features = Number(a.features());
  o.heartbeat_ms = a.heartbeatMs();
  return o;
}

function error(e: wire.Error): Obj {
  const o: Obj = { status: enumName(wire.Status, e.status()) };
  put(o, 'message', e.message());
  o.supported_major_min = e.supportedMajorMin();
  o.supported_major_max = e.supportedMajorMax();
  return o;
}

function goAway(g: wire.GoAway): Obj {
  const o: Obj = { last_stream_id: Number(g.lastStreamId()) };
  put(o, 'reason', g.reason());
  o.drain_ms = g.drainMs();
  return o;
}

function toolCall(t: wire.ToolCall): Obj {
  const o: Obj = {};
  put(o, 'id', t.id());
  put(o, 'type', t.type());
  put(o, 'name', t.name());
  put(o, 'arguments', t.arguments_());
  return o;
}

function message(m: wire.Message): Obj {
  const o: Obj = {};
  put(o, 'role', m.role());
  put(o, 'content', m.content());
  put(o, 'name', m.name());
  put(o, 'tool_calls', vector(m, 3, m.toolCallsLength(), (i) => m.toolCalls(i)!, toolCall));
  put(o, 'tool_call_id', m.toolCallId());
  return o;
}

function tool(t: wire.Tool): Obj {
  const o: Obj = {};
  put(o, 'type', t.type());
  put(o, 'name', t.name());
  put(o, 'description', t.description());
  put(o, 'parameters_json', t.parametersJson());
  return o;
}

function responseFormat(f: wire.ResponseFormat): Obj {
  const o: Obj = { type: enumName(wire.ResponseFormatType, f.type()) };
  put(o, 'schema_name', f.schemaName());
  put(o, 'schema_json', f.schemaJson());
  o.strict = f.strict();
  return o;
}

function params(p: wire.Params): Obj {
  const o: Obj = {};
  put(o, 'temperature', p.temperature());
  put(o, 'top_p', p.topP());
  put(o, 'max_tokens', p.maxTokens());
  const seed = p.seed();
  if (seed !== null) o.seed = Number(seed);
  put(o, 'stop', vector(p, 4, p.stopLength(), (i) => p.stop(i), (s) => s));
  put(o, 'tools', vector(p, 5, p.toolsLength(), (i) => p.tools(i)!, tool));
  put(o, 'tool_choice', p.toolChoice());
  const rf = p.responseFormat();
  if (rf !== null) o.response_format = responseFormat(rf);
  put(o, 'extra_json', p.extraJson());
  return o;
}

function tag(t: wire.Tag): Obj {
  const o: Obj = {};
  put(o, 'key', t.key());
  put(o, 'value', t.value());
  return o;
}

function metadata(m: wire.Metadata): Obj {
  const o: Obj = {};
  put(o, 'tenant', m.tenant());
  put(o, 'user', m.user());
  put(o, 'session', m.session());
  put(o, 'request_id', m.requestId());
  put(o, 'prompt_id', m.promptId());
  put(o, 'prompt_version', m.promptVersion());
  put(o, 'tags', vector(m, 6, m.tagsLength(), (i) => m.tags(i)!, tag));
  put(o, 'traceparent', m.traceparent());
  return o;
}

function cacheControl(c: wire.CacheControl): Obj {
  return { bypass: c.bypass(), no_store: c.noStore(), ttl_ms: c.ttlMs() };
}

function request(r: wire.Request): Obj {
  const o: Obj = {};
  put(o, 'model', r.model());
  put(o, 'messages', vector(r, 1, r.messagesLength(), (i) => r.messages(i)!, message));
  const p = r.params();
  if (p !== null) o.params = params(p);
  o.stream = r.stream();
  const m = r.metadata();
  if (m !== null) o.metadata = metadata(m);
  o.timeout_ms = r.timeoutMs();
  const c = r.cache();
  if (c !== null) o.cache = cacheControl(c);
  return o;
}

function cancel(c: wire.Cancel): Obj {
  const o: Obj = {};
  put(o, 'reason', c.reason());
  return o;
}

function feedback(f: wire.Feedback): Obj {
  const o: Obj = {};
  put(o, 'trace_id', f.traceId());
  o.score = f.score();
  put(o, 'comment', f.comment());
  const m = f.metadata();
  if (m !== null) o.metadata = metadata(m);
  return o;
}

function responseStart(s: wire.ResponseStart): Obj {
  const o: Obj = {};
  put(o, 'model', s.model());
  put(o, 'provider', s.provider());
  o.cache_hit = s.cacheHit();
  put(o, 'trace_id', s.traceId());
  put(o, 'system_fingerprint', s.systemFingerprint());
  put(o, 'service_tier', s.serviceTier());
  return o;
}

function toolCallDelta(t: wire.ToolCallDelta): Obj {
  const o: Obj = { index: t.index() };
  put(o, 'id', t.id());
  put(o, 'type', t.type());
  put(o, 'name', t.name());
  put(o, 'arguments', t.arguments_());
  return o;
}

function responseChunk(c: wire.ResponseChunk): Obj {
  const o: Obj = { seq: c.seq() };
  put(o, 'delta', c.delta());
  put(o, 'tool_calls', vector(c, 2, c.toolCallsLength(), (i) => c.toolCalls(i)!, toolCallDelta));
  o.refusal = c.refusal();
  return o;
}

function usage(u: wire.Usage): Obj {
  return {
    prompt_tokens: u.promptTokens(),
    completion_tokens: u.completionTokens(),
    cached_tokens: u.cachedTokens(),
    reasoning_tokens: u.reasoningTokens(),
    cache_write_tokens: u.cacheWriteTokens(),
  };
}

function verdict(v: wire.GuardrailVerdict): Obj {
  const o: Obj = {};
  put(o, 'guardrail', v.guardrail());
  o.verdict = enumName(wire.Verdict, v.verdict());
  put(o, 'reason', v.reason());
  return o;
}

function responseEnd(e: wire.ResponseEnd): Obj {
  const o: Obj = {
    status: enumName(wire.Status, e.status()),
    retryable: e.retryable(),
    retry_after_ms: e.retryAfterMs(),
  };
  put(o, 'origin', e.origin());
  put(o, 'message', e.message());
  put(o, 'content', e.content());
  put(o, 'finish_reason', e.finishReason());
  put(o, 'tool_calls', vector(e, 7, e.toolCallsLength(), (i) => e.toolCalls(i)!, toolCall));
  const u = e.usage();
  if (u !== null) o.usage = usage(u);
  o.cost_usd = e.costUsd();
  o.cache_hit = e.cacheHit();
  put(o, 'trace_id', e.traceId());
  put(o, 'verdicts', vector(e, 12, e.verdictsLength(), (i) => e.verdicts(i)!, verdict));
  put(o, 'model', e.model());
  o.reached_provider = e.reachedProvider();
  o.refusal = e.refusal();
  put(o, 'system_fingerprint', e.systemFingerprint());
  put(o, 'service_tier', e.serviceTier());
  return o;
}

/** How to read and describe each union member. */
const BODIES: Record<number, { make: () => unknown; describe: (body: never) => Obj }> = {
  [wire.Body.Hello]: { make: () => new wire.Hello(), describe: hello },
  [wire.Body.HelloAck]: { make: () => new wire.HelloAck(), describe: helloAck },
  [wire.Body.Request]: { make: () => new wire.Request(), describe: request },
  [wire.Body.ResponseStart]: { make: () => new wire.ResponseStart(), describe: responseStart },
  [wire.Body.ResponseChunk]: { make: () => new wire.ResponseChunk(), describe: responseChunk },
  [wire.Body.ResponseEnd]: { make: () => new wire.ResponseEnd(), describe: responseEnd },
  [wire.Body.Cancel]: { make: () => new wire.Cancel(), describe: cancel },
  [wire.Body.Feedback]: { make: () => new wire.Feedback(), describe: feedback },
  [wire.Body.Error]: { make: () => new wire.Error(), describe: error },
  [wire.Body.Ping]: { make: () => new wire.Ping(), describe: (p: wire.Ping) => ({ opaque: Number(p.opaque()) }) },
  [wire.Body.Pong]: { make: () => new wire.Pong(), describe: (p: wire.Pong) => ({ opaque: Number(p.opaque()) }) },
  [wire.Body.GoAway]: { make: () => new wire.GoAway(), describe: goAway },
};

/** Describes a frame body (the bytes after the u32 length prefix). */
export function describeFrameBody(bytes: Uint8Array): Obj {
  const frame = frameRoot(bytes);
  const type = frame.bodyType();
  const out: Obj = { stream_id: Number(frame.streamId()) };
  if (type === wire.Body.NONE) {
    out.body_type = 'NONE';
    return out;
  }
  const kind = BODIES[type];
  if (kind === undefined) {
    out.body_type = `UNKNOWN:${type}`;
    return out;
  }
  out.body_type = wire.Body[type]!;
  const body = frame.body(kind.make());
  if (body !== null) out.body = kind.describe(body as never);
  return out;
}

/** Describes one size-prefixed frame exactly as it travels on the socket. */
export function describeFrame(sizePrefixed: Uint8Array): Obj {
  if (sizePrefixed.length < 4) throw new FrameFormatError('shorter than the length prefix');
  const view = new DataView(sizePrefixed.buffer, sizePrefixed.byteOffset, sizePrefixed.byteLength);
  const length = view.getUint32(0, true);
  if (length !== sizePrefixed.length - 4) {
    throw new FrameFormatError(`length prefix ${length} but ${sizePrefixed.length - 4} bytes follow`);
  }
  return describeFrameBody(sizePrefixed.subarray(4));
}
