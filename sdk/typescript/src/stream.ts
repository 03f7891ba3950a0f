// The caller's handle on a streamed call: an async iterable of chunks plus promises for the
// start and the final response.

import { responseFromEnd, type CallObserver } from './call.js';
import type { EndFrame } from './codec.js';
import type { OutriggerError, StatusCode } from './errors.js';
import type { ChatResponse, StreamChunk, StreamStart, ToolCall } from './types.js';

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

/** Stops the call on the daemon and fails it with `code`. */
export type StopStream = (code: StatusCode, reason: string) => void;

interface Buffered {
  chunk: StreamChunk;
  frameBytes: number;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // The caller may never look at this promise; its failure is also thrown by the iterator.
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/**
 * A streamed call. Iterate it for the chunks (`for await (const chunk of stream)`); the loop
 * throws an {@link OutriggerError} if the stream ends with an error. Leaving the loop early
 * (`break`, `return`, an exception) cancels the call. `finalResponse()` resolves with the
 * whole answer once the stream ends, whether or not the chunks were consumed.
 *
 * Chunks wait in memory until read. Once the frames of unread chunks exceed the client's
 * `maxStreamBufferBytes`, the call is cancelled on the daemon and fails with
 * `RESOURCE_EXHAUSTED`; the connection and other calls are not affected.
 */
export class ChatStream implements AsyncIterable<StreamChunk> {
  readonly #start = deferred<StreamStart>();
  readonly #final = deferred<ChatResponse>();
  readonly #buffer: Buffered[] = [];
  #bufferedBytes = 0;
  #waiter: (() => void) | null = null;
  #ended = false;
  #error: OutriggerError | null = null;
  #errorThrown = false;
  #iterating = false;
  #content = '';
  #toolCalls: ToolCall[] = [];
  #startInfo: StreamStart | undefined;
  readonly #stop: StopStream;
  readonly #maxBufferedBytes: number;

  /** @internal Created by {@link OutriggerClient.stream}. */
  constructor(stop: StopStream, maxBufferedBytes: number) {
    this.#stop = stop;
    this.#maxBufferedBytes = maxBufferedBytes;
  }

  /** @internal The observer the client feeds this stream through. */
  observer(): CallObserver {
    return {
      start: (start) => this.#onStart(start),
      chunk: (chunk, frameBytes) => this.#onChunk(chunk, frameBytes),
      success: (end) => this.#onSuccess(end),
      failure: (err) => this.#onFailure(err),
    };
  }

  /** Resolves with `ResponseStart` (model, provider, cache hit, trace id). */
  start(): Promise<StreamStart> {
    return this.#start.promise;
  }

  /** Resolves with the assembled answer when the stream ends; rejects if it fails. */
  finalResponse(): Promise<ChatResponse> {
    return this.#final.promise;
  }

  /** The text received so far. */
  get content(): string {
    return this.#content;
  }

  /** True once the stream has its outcome (buffered chunks may remain unread). */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Asks the daemon to stop. The stream then ends with a `CANCELLED` error (from the daemon
   * when it confirms in time, otherwise from the client). No-op once ended.
   */
  cancel(reason = 'cancelled by the caller'): void {
    if (!this.#ended) this.#stop('CANCELLED', reason);
  }

  [Symbol.asyncIterator](): AsyncIterator<StreamChunk> {
    if (this.#iterating) throw new TypeError('a ChatStream can be iterated only once');
    this.#iterating = true;
    return {
      next: () => this.#next(),
      return: async () => {
        this.cancel('the caller stopped reading');
        return { done: true, value: undefined };
      },
    };
  }

  async #next(): Promise<IteratorResult<StreamChunk>> {
    for (;;) {
      const next = this.#buffer.shift();
      if (next !== undefined) {
        this.#bufferedBytes -= next.frameBytes;
        return { done: false, value: next.chunk };
      }
      if (this.#ended) {
        if (this.#error !== null && !this.#errorThrown) {
          this.#errorThrown = true;
          throw this.#error;
        }
        return { done: true, value: undefined };
      }
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
      });
    }
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.();
  }

  #onStart(start: StreamStart): void {
    this.#startInfo = start;
    this.#start.resolve(start);
  }

  #onChunk(chunk: StreamChunk, frameBytes: number): void {
    const buffered = this.#bufferedBytes + frameBytes;
    // A chunk arriving when nothing waits is always taken: the caller is keeping up, and a
    // single chunk larger than the bound is the daemon's to limit (by max_frame_size).
    if (this.#bufferedBytes > 0 && buffered > this.#maxBufferedBytes) {
      this.#stop('RESOURCE_EXHAUSTED', `the caller did not read the stream fast enough ` +
        `(${buffered} bytes buffered, over maxStreamBufferBytes ${this.#maxBufferedBytes})`);
      return;
    }
    this.#bufferedBytes = buffered;
    this.#content += chunk.delta;
    for (const delta of chunk.toolCalls) {
      const call = (this.#toolCalls[delta.index] ??= {});
      if (delta.id !== undefined) call.id = delta.id;
      if (delta.type !== undefined) call.type = delta.type;
      if (delta.name !== undefined) call.name = delta.name;
      if (delta.arguments !== undefined) call.arguments = (call.arguments ?? '') + delta.arguments;
    }
    this.#buffer.push({ chunk, frameBytes });
    this.#wake();
  }

  #onSuccess(end: EndFrame): void {
    this.#ended = true;
    const response = responseFromEnd(end, {
      content: this.#content,
      toolCalls: this.#toolCalls.filter((c) => c !== undefined),
      start: this.#startInfo,
    });
    if (this.#startInfo === undefined) {
      // A stream may end without ResponseStart (e.g. an early refusal answered as OK).
      const start: StreamStart = { cacheHit: response.cacheHit };
      if (response.model !== undefined) start.model = response.model;
      if (response.traceId !== undefined) start.traceId = response.traceId;
      if (response.systemFingerprint !== undefined) start.systemFingerprint = response.systemFingerprint;
      if (response.serviceTier !== undefined) start.serviceTier = response.serviceTier;
      this.#start.resolve(start);
    }
    this.#final.resolve(response);
    this.#wake();
  }

  #onFailure(err: OutriggerError): void {
    this.#ended = true;
    this.#error = err;
    this.#start.reject(err);
    this.#final.reject(err);
    this.#wake();
  }
}
