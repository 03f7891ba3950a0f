// One call (a chat request or a feedback) from submission to its single outcome.

import type { EndFrame } from './codec.js';
import type { Connection, StreamSink } from './connection.js';
import { ORIGIN_CLIENT, OutriggerError, type StatusCode } from './errors.js';
import type { ChatResponse, StreamChunk, StreamStart, ToolCall } from './types.js';

/** Where a call's events go. `success` or `failure` is called exactly once. */
export interface CallObserver {
  start?(start: StreamStart): void;
  chunk?(chunk: StreamChunk, frameBytes: number): void;
  success(end: EndFrame): void;
  failure(err: OutriggerError): void;
}

export type CallState = 'queued' | 'sent' | 'done';

/** setTimeout fires at once, with a TimeoutOverflowWarning, for longer delays. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A call and its lifecycle: queued → sent → done. The outcome is settled once (first of:
 * the daemon's `ResponseEnd`, a local deadline, a cancel, a lost connection); a call that
 * settled early stays registered on its connection until the daemon ends the stream, so the
 * daemon's stream slots are accounted for.
 */
export class Call implements StreamSink {
  state: CallState = 'queued';
  conn: Connection | null = null;
  streamId = 0;
  /** Set when the caller asked to stop; the daemon's end then maps to this outcome. */
  stopping: { code: StatusCode; message: string; cause?: unknown } | null = null;
  readonly enqueuedAt = performance.now();
  /** Absolute `performance.now()` deadline, if the call has one. */
  readonly deadline: number | undefined;
  #settled = false;
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #cleanups: Array<() => void> = [];

  constructor(
    /** Builds the call's frame for a stream id and the time left (0: no deadline). */
    readonly encode: (streamId: number, timeoutMs: number) => Uint8Array,
    readonly observer: CallObserver,
    timeoutMs: number | undefined,
  ) {
    this.deadline = timeoutMs ? this.enqueuedAt + timeoutMs : undefined;
  }

  get settled(): boolean {
    return this.#settled;
  }

  /** Runs `fn` after `ms` unless the call is finished by then. */
  after(ms: number, fn: () => void): void {
    // A longer wait than one timer can hold (about 24.8 days) is taken in steps.
    const step = Math.min(ms, MAX_TIMER_MS);
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (ms > step) this.after(ms - step, fn);
      else fn();
    }, step);
    this.#timers.add(timer);
  }

  /** Registers a cleanup to run when the call settles (e.g. removing an abort listener). */
  onSettle(fn: () => void): void {
    this.#cleanups.push(fn);
  }

  succeed(end: EndFrame): void {
    if (this.#settle()) this.observer.success(end);
  }

  fail(err: OutriggerError): void {
    if (this.#settle()) this.observer.failure(err);
  }

  /** Fails the call with a status decided by this SDK. */
  failLocally(code: StatusCode, message: string, extra: { retryable?: boolean; cause?: unknown } = {}): void {
    this.fail(new OutriggerError({ code, message, origin: ORIGIN_CLIENT, ...extra }));
  }

  // StreamSink: frames routed here by the connection.

  onStart(start: StreamStart): void {
    if (!this.#settled) this.observer.start?.(start);
  }

  onChunk(chunk: StreamChunk, frameBytes: number): void {
    if (!this.#settled) this.observer.chunk?.(chunk, frameBytes);
  }

  onEnd(end: EndFrame): void {
    this.state = 'done';
    this.conn = null;
    if (this.#settled) return;
    if (this.stopping !== null) {
      // The caller stopped the call; report that, with the daemon's details when it agrees.
      const agrees = end.code === this.stopping.code;
      this.fail(new OutriggerError({
        code: this.stopping.code,
        message: agrees ? end.message ?? this.stopping.message : this.stopping.message,
        origin: agrees ? end.origin ?? ORIGIN_CLIENT : ORIGIN_CLIENT,
        cause: this.stopping.cause,
        reachedProvider: end.reachedProvider,
        ...(end.traceId !== undefined ? { traceId: end.traceId } : {}),
      }));
    } else if (end.code === 'OK') {
      this.succeed(end);
    } else {
      this.fail(errorFromEnd(end));
    }
  }

  #settle(): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    for (const fn of this.#cleanups) fn();
    this.#cleanups = [];
    return true;
  }
}

/** The typed error for a non-OK `ResponseEnd`. */
export function errorFromEnd(end: EndFrame): OutriggerError {
  return new OutriggerError({
    code: end.code,
    status: end.status,
    retryable: end.retryable,
    retryAfterMs: end.retryAfterMs,
    origin: end.origin ?? '',
    message: end.message ?? '',
    verdicts: end.verdicts,
    reachedProvider: end.reachedProvider,
    ...(end.traceId !== undefined ? { traceId: end.traceId } : {}),
  });
}

/** Assembled parts of a streamed answer, merged into the final response. */
export interface StreamedParts {
  content: string;
  toolCalls: ToolCall[];
  start: StreamStart | undefined;
}

/** Builds the caller's view of a successful call. */
export function responseFromEnd(end: EndFrame, streamed?: StreamedParts): ChatResponse {
  const response: ChatResponse = {
    content: end.content ? end.content : streamed?.content ?? '',
    toolCalls: end.toolCalls ?? streamed?.toolCalls ?? [],
    costUsd: end.costUsd,
    cacheHit: end.cacheHit || (streamed?.start?.cacheHit ?? false),
    verdicts: end.verdicts,
    reachedProvider: end.reachedProvider,
    refusal: end.refusal,
  };
  const model = end.model ?? streamed?.start?.model;
  const systemFingerprint = end.systemFingerprint ?? streamed?.start?.systemFingerprint;
  const serviceTier = end.serviceTier ?? streamed?.start?.serviceTier;
  const traceId = end.traceId ?? streamed?.start?.traceId;
  const provider = streamed?.start?.provider;
  if (end.finishReason !== undefined) response.finishReason = end.finishReason;
  if (model !== undefined) response.model = model;
  if (end.usage !== undefined) response.usage = end.usage;
  if (traceId !== undefined) response.traceId = traceId;
  if (end.origin !== undefined) response.origin = end.origin;
  if (provider !== undefined) response.provider = provider;
  if (systemFingerprint !== undefined) response.systemFingerprint = systemFingerprint;
  if (serviceTier !== undefined) response.serviceTier = serviceTier;
  return response;
}
