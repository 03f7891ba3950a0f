// Public request and response shapes. Field names are the camelCase forms of the schema's
// snake_case names; a field left `undefined` is not written to the wire.

/** `system | user | assistant | tool | developer`; other strings pass through unchanged. */
export type Role = 'system' | 'user' | 'assistant' | 'tool' | 'developer' | (string & {});

export interface ToolCall {
  id?: string;
  /** Usually `"function"`. */
  type?: string;
  name?: string;
  /** JSON text, as the model produced it. */
  arguments?: string;
}

export interface Message {
  role: Role;
  content?: string;
  name?: string;
  toolCalls?: ToolCall[];
  toolCallId?: string;
}

export interface Tool {
  /** Usually `"function"`. */
  type?: string;
  name?: string;
  description?: string;
  /** JSON Schema of the arguments: JSON text, or an object that is serialised for you. */
  parameters?: string | Record<string, unknown>;
}

export type ResponseFormatType = 'Text' | 'JsonObject' | 'JsonSchema';

export interface ResponseFormat {
  type?: ResponseFormatType;
  schemaName?: string;
  /** JSON text, or an object that is serialised for you. */
  schema?: string | Record<string, unknown>;
  strict?: boolean;
}

export interface Params {
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  seed?: number | bigint;
  stop?: string[];
  tools?: Tool[];
  /** `"auto" | "none" | "required"` or a function name; a function named like one of those modes
   * (or starting with `{`) as `'{"type":"function","function":{"name":"none"}}'`. */
  toolChoice?: string;
  responseFormat?: ResponseFormat;
  /** Provider-specific fields: JSON object text, or an object that is serialised for you. */
  extra?: string | Record<string, unknown>;
}

/** Who and what a call is for. Client defaults and per-call values merge field by field. */
export interface Metadata {
  tenant?: string;
  user?: string;
  session?: string;
  requestId?: string;
  promptId?: string;
  promptVersion?: string;
  /** Free-form labels; per-call tags are merged over the client's, key by key. */
  tags?: Record<string, string>;
  /** W3C trace context of the caller, if any. */
  traceparent?: string;
}

export interface CacheControl {
  /** Neither read nor write the cache. */
  bypass?: boolean;
  /** Read, but do not store this answer. */
  noStore?: boolean;
  /** Entry lifetime; 0 or unset means the cache's configured default. */
  ttlMs?: number;
}

export interface ChatRequest {
  /** A route name, or a model the default route accepts. */
  model: string;
  messages: Message[];
  params?: Params;
  metadata?: Metadata;
  cache?: CacheControl;
}

/** Per-call controls that are not part of the request body. */
export interface CallOptions {
  /** Aborting sends `Cancel`; the call then fails with `CANCELLED`. */
  signal?: AbortSignal;
  /**
   * Relative deadline. Sent as `timeout_ms` (the time left when the request is written) and
   * enforced locally too, so the call settles even if the daemon never answers.
   */
  timeoutMs?: number;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  /** Read from the provider's prompt cache; part of promptTokens. */
  cachedTokens: number;
  /** Part of completionTokens. */
  reasoningTokens: number;
  /** Written to the provider's prompt cache; part of promptTokens. */
  cacheWriteTokens: number;
}

export type VerdictKind = 'Pass' | 'Flag' | 'Deny' | 'Rewrite' | 'Skipped' | 'Error';

export interface GuardrailVerdict {
  /** Plugin instance name. */
  guardrail?: string;
  verdict: VerdictKind;
  reason?: string;
}

/** A finished call. */
export interface ChatResponse {
  content: string;
  toolCalls: ToolCall[];
  /** `stop | length | tool_calls | content_filter`. */
  finishReason?: string;
  model?: string;
  usage?: Usage;
  costUsd: number;
  cacheHit: boolean;
  traceId?: string;
  verdicts: GuardrailVerdict[];
  /** The `stage/instance` that produced the answer, when the daemon names it. */
  origin?: string;
  /** The provider instance that answered (streamed calls only: from `ResponseStart`). */
  provider?: string;
  /** The daemon started a provider attempt for this request. */
  reachedProvider: boolean;
  /**
   * The answer is the model's refusal: `content` is refusal text, not an answer to parse
   * (`finishReason` is `content_filter`).
   */
  refusal: boolean;
  /** The upstream's backend configuration id, when it sent one. */
  systemFingerprint?: string;
  /** The tier the upstream served the answer on, when it said. */
  serviceTier?: string;
}

/** First event of a streamed call. */
export interface StreamStart {
  /** The model answering: the upstream's name for it when it said one. */
  model?: string;
  /** Plugin instance that is answering. */
  provider?: string;
  cacheHit: boolean;
  traceId?: string;
  /** The upstream's backend configuration id, when it sent one as the stream began. */
  systemFingerprint?: string;
  /** The tier the upstream serves the answer on, when it said. */
  serviceTier?: string;
}

export interface ToolCallDelta {
  index: number;
  id?: string;
  type?: string;
  name?: string;
  /** Fragment to append to the arguments of tool call `index`. */
  arguments?: string;
}

/** One piece of a streamed answer. */
export interface StreamChunk {
  seq: number;
  delta: string;
  toolCalls: ToolCallDelta[];
  /** `delta` is the model's refusal text, not content. */
  refusal: boolean;
}

export interface FeedbackOptions {
  comment?: string;
  metadata?: Metadata;
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** What the daemon said in `HelloAck`. */
export interface ServerInfo {
  protoMajor: number;
  protoMinor: number;
  serverVersion?: string;
  /** The negotiated limit: min(client, server). */
  maxFrameSize: number;
  /** 0 when the daemon sets no limit. */
  maxConcurrentStreams: number;
  /** Feature bits both sides support. */
  features: bigint;
  heartbeatMs: number;
}
