// The public client: one multiplexed connection, a bounded queue of calls waiting to be
// written, deadlines, cancellation and reconnection.

import { Call, responseFromEnd, type CallObserver } from './call.js';
import {
  ALL_FEATURES,
  DEFAULT_MAX_FRAME_SIZE,
  encodeCancel,
  encodeFeedback,
  encodeRequest,
  Features,
  type GoAwayFrame,
  HARD_MAX_FRAME_SIZE,
} from './codec.js';
import { Connection, type ConnectionEvents } from './connection.js';
import { ORIGIN_HANDSHAKE, OutriggerError, type StatusCode } from './errors.js';
import { mergeMetadata } from './metadata.js';
import { chooseSocket, defaultSocketCandidates, firstSocket } from './socket_path.js';
import { ChatStream } from './stream.js';
import type {
  CallOptions,
  ChatRequest,
  ChatResponse,
  FeedbackOptions,
  Metadata,
  ServerInfo,
} from './types.js';
import { shouldVerifyServer } from './verify.js';
import { SDK_LANGUAGE, VERSION } from './version.js';

export interface ClientOptions {
  /**
   * Unix socket of the daemon. Default: `OUTRIGGER_SOCKET`, else the first of
   * `defaultSocketCandidates()` that exists, looked up again for every connection attempt.
   */
  socketPath?: string;
  /**
   * Check who serves the socket before sending anything: the owner of the socket file must be
   * this process's euid, root, or the owner of the socket's directory when that directory's
   * parent is not writable by others. Default: on for a default socket path, off for
   * `socketPath` and `OUTRIGGER_SOCKET`. A server that fails the check fails the connection
   * with a non-retryable `PERMISSION_DENIED`.
   */
  verifyServer?: boolean;
  /** The only uid the socket's owner may have; turns `verifyServer` on. */
  expectedServerUid?: number;
  /** Metadata sent with every call; per-call metadata overrides it field by field. */
  metadata?: Metadata;
  /** Default per-call timeout in ms (0 or unset: the daemon's default deadline). */
  timeoutMs?: number;
  /** Largest frame accepted from the daemon (default 4 MiB, at most 64 MiB). */
  maxFrameSize?: number;
  /** Calls waiting to be written, beyond which new calls fail `RESOURCE_EXHAUSTED` (1024). */
  maxQueuedCalls?: number;
  /**
   * Bytes of chunk frames a stream holds while nobody reads them (default 64 MiB). Beyond it
   * the stream is cancelled and fails `RESOURCE_EXHAUSTED`.
   */
  maxStreamBufferBytes?: number;
  /** How long a queued call waits for a usable connection before `UNAVAILABLE` (5000 ms). */
  connectTimeoutMs?: number;
  /** Extra wait after a deadline for the daemon's own `DEADLINE_EXCEEDED` (200 ms). */
  deadlineGraceMs?: number;
  /** How long a cancelled call waits for the daemon to confirm (1000 ms). */
  cancelGraceMs?: number;
  /** Reported in `Hello` (default `@outrigger/client`). */
  clientName?: string;
  clientVersion?: string;
}

export interface ClientStats {
  /** Calls waiting to be written. */
  queued: number;
  /** Streams written whose `ResponseEnd` has not arrived yet (on every connection). */
  inFlight: number;
  /** Open connections (the active one plus any still draining after `GoAway`). */
  connections: number;
  /** Successful handshakes since the client was created. */
  connects: number;
  /** `GoAway` frames received (daemon shutdowns or restarts seen). */
  goAways: number;
}

const RETRY_MIN_MS = 25;
const RETRY_MAX_MS = 1000;
const DEFAULT_STREAM_BUFFER_BYTES = 64 * 1024 * 1024;
/** `Request.timeout_ms` is a uint32; as in the other SDKs a longer timeout is sent as its maximum. */
const MAX_WIRE_TIMEOUT_MS = 0xffffffff;

function checkTimeout(name: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isFinite(value) && value >= 0)) {
    throw new RangeError(`${name} must be a non-negative number of milliseconds, got ${value}`);
  }
}

/**
 * A client for the Outrigger daemon. All calls share one connection, opened on first use and
 * reopened after `GoAway` or a lost connection. Calls not yet written when a connection goes
 * away are written on the next one; calls already written fail with a retryable
 * `UNAVAILABLE` (the daemon may have started them).
 *
 * The client does not keep the process alive while idle; `close()` releases it at once.
 */
export class OutriggerClient {
  /** Whether connections check the server before sending anything (see `verifyServer`). */
  readonly verifiesServer: boolean;
  /** The explicit or `OUTRIGGER_SOCKET` path; null: the default candidates. */
  readonly #fixedSocketPath: string | null;
  readonly #expectedServerUid: number | undefined;
  readonly #defaults: Metadata | undefined;
  readonly #timeoutMs: number;
  readonly #maxFrameSize: number;
  readonly #maxQueued: number;
  readonly #maxStreamBufferBytes: number;
  readonly #connectTimeoutMs: number;
  readonly #deadlineGraceMs: number;
  readonly #cancelGraceMs: number;
  readonly #clientName: string;
  readonly #clientVersion: string;

  #queue: Call[] = [];
  #active: Connection | null = null;
  readonly #connections = new Set<Connection>();
  #connecting = false;
  /** Aborts the connection attempt under way, so close() can release its socket and timer. */
  #dialing: AbortController | null = null;
  #retryTimer: ReturnType<typeof setTimeout> | null = null;
  #retryDelay = RETRY_MIN_MS;
  #connectWaiters: Array<{ resolve(info: ServerInfo): void; reject(err: unknown): void }> = [];
  #connects = 0;
  #goAways = 0;
  #closed = false;

  constructor(options: ClientOptions = {}) {
    checkTimeout('timeoutMs', options.timeoutMs);
    const bufferBytes = options.maxStreamBufferBytes;
    if (bufferBytes !== undefined && !(Number.isFinite(bufferBytes) && bufferBytes > 0)) {
      throw new RangeError(`maxStreamBufferBytes must be a positive number of bytes, got ${bufferBytes}`);
    }
    const socket = chooseSocket(options.socketPath);
    this.#fixedSocketPath = socket.fromDefaults ? null : socket.path;
    this.verifiesServer = shouldVerifyServer(socket.fromDefaults, options.verifyServer, options.expectedServerUid);
    this.#expectedServerUid = options.expectedServerUid;
    this.#defaults = options.metadata;
    this.#timeoutMs = options.timeoutMs ?? 0;
    this.#maxFrameSize = Math.min(options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE, HARD_MAX_FRAME_SIZE);
    this.#maxQueued = options.maxQueuedCalls ?? 1024;
    this.#maxStreamBufferBytes = bufferBytes ?? DEFAULT_STREAM_BUFFER_BYTES;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    this.#deadlineGraceMs = options.deadlineGraceMs ?? 200;
    this.#cancelGraceMs = options.cancelGraceMs ?? 1000;
    this.#clientName = options.clientName ?? '@outrigger/client';
    this.#clientVersion = options.clientVersion ?? VERSION;
  }

  /** The socket the next connection attempt goes to. */
  get socketPath(): string {
    return this.#fixedSocketPath ?? firstSocket(defaultSocketCandidates());
  }

  /** A unary call: resolves with the whole answer, rejects with an {@link OutriggerError}. */
  chat(request: ChatRequest, options: CallOptions = {}): Promise<ChatResponse> {
    return new Promise<ChatResponse>((resolve, reject) => {
      const observer: CallObserver = {
        success: (end) => resolve(responseFromEnd(end)),
        failure: reject,
      };
      this.#submit(this.#requestEncoder(request, false), observer, options);
    });
  }

  /** A streamed call; see {@link ChatStream}. Errors surface through the stream. */
  stream(request: ChatRequest, options: CallOptions = {}): ChatStream {
    let call: Call | null = null;
    const stream = new ChatStream((code, reason) => {
      if (call !== null) this.#stop(call, code, reason);
    }, this.#maxStreamBufferBytes);
    call = this.#submit(this.#requestEncoder(request, true), stream.observer(), options);
    return stream;
  }

  /** Scores an earlier answer by its trace id; resolves when the daemon has recorded it. */
  feedback(traceId: string, score: number, options: FeedbackOptions = {}): Promise<void> {
    const metadata = mergeMetadata(this.#defaults, options.metadata);
    return new Promise<void>((resolve, reject) => {
      const encode = (streamId: number): Uint8Array => encodeFeedback(streamId, {
        traceId, score,
        ...(options.comment !== undefined ? { comment: options.comment } : {}),
        ...(metadata !== undefined ? { metadata } : {}),
      });
      const callOptions: CallOptions = {};
      if (options.signal !== undefined) callOptions.signal = options.signal;
      if (options.timeoutMs !== undefined) callOptions.timeoutMs = options.timeoutMs;
      this.#submit(encode, { success: () => resolve(), failure: reject }, callOptions);
    });
  }

  /** Opens the connection now (calls open it on demand) and returns the daemon's `HelloAck`. */
  connect(): Promise<ServerInfo> {
    if (this.#closed) return Promise.reject(this.#closedError());
    const active = this.#usableConnection();
    if (active !== null) return Promise.resolve(active.info);
    return new Promise<ServerInfo>((resolve, reject) => {
      this.#connectWaiters.push({ resolve, reject });
      this.#connect();
    });
  }

  /** The `HelloAck` of the current connection, if there is one. */
  get serverInfo(): ServerInfo | undefined {
    return this.#usableConnection()?.info;
  }

  get stats(): ClientStats {
    let inFlight = 0;
    for (const conn of this.#connections) inFlight += conn.streams.size;
    return {
      queued: this.#queue.length,
      inFlight,
      connections: this.#connections.size,
      connects: this.#connects,
      goAways: this.#goAways,
    };
  }

  /**
   * Closes the client at once: calls not yet answered fail with `CANCELLED`, connections are
   * closed, and later calls fail with `FAILED_PRECONDITION`. Await your calls first for a
   * graceful stop.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#dialing?.abort(); // a handshake the daemon never answers would hold the process
    const queued = this.#queue;
    this.#queue = [];
    for (const call of queued) call.failLocally('CANCELLED', 'the client was closed');
    for (const conn of [...this.#connections]) {
      for (const sink of conn.streams.values()) {
        (sink as Call).failLocally('CANCELLED', 'the client was closed');
      }
      conn.close();
    }
    this.#rejectConnectWaiters(this.#closedError());
  }

  // ------------------------------------------------------------------------- submission

  #requestEncoder(request: ChatRequest, stream: boolean): (id: number, timeoutMs: number) => Uint8Array {
    const metadata = mergeMetadata(this.#defaults, request.metadata);
    const merged: ChatRequest = { ...request };
    if (metadata === undefined) delete merged.metadata;
    else merged.metadata = metadata;
    return (streamId, timeoutMs) => encodeRequest({ streamId, request: merged, stream, timeoutMs });
  }

  #submit(
    encode: (id: number, timeoutMs: number) => Uint8Array,
    observer: CallObserver,
    options: CallOptions,
  ): Call {
    checkTimeout('timeoutMs', options.timeoutMs);
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const call = new Call(encode, observer, timeoutMs);
    if (this.#closed) {
      call.fail(this.#closedError());
      return call;
    }
    const signal = options.signal;
    if (signal?.aborted) {
      call.failLocally('CANCELLED', 'aborted before the call started', { cause: signal.reason });
      return call;
    }
    if (this.#queue.length >= this.#maxQueued) {
      call.failLocally('RESOURCE_EXHAUSTED',
        `${this.#queue.length} calls are already waiting to be sent (maxQueuedCalls)`,
        { retryable: true });
      return call;
    }
    if (signal !== undefined) {
      const onAbort = (): void =>
        this.#stop(call, 'CANCELLED', 'aborted by the caller', signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      call.onSettle(() => signal.removeEventListener('abort', onAbort));
    }
    if (call.deadline !== undefined) call.after(timeoutMs, () => this.#onDeadline(call));
    call.onSettle(() => this.#afterSettle(call));
    this.#queue.push(call);
    this.#pump();
    return call;
  }

  #onDeadline(call: Call): void {
    if (call.state === 'queued') {
      this.#stop(call, 'DEADLINE_EXCEEDED', 'the deadline passed before the request was sent');
      return;
    }
    // Give the daemon's own DEADLINE_EXCEEDED (with its origin) a moment to arrive.
    call.after(this.#deadlineGraceMs, () =>
      this.#stop(call, 'DEADLINE_EXCEEDED', 'the deadline passed with no answer from the daemon'));
  }

  /**
   * Stops a call. A queued call fails at once. A written call gets a `Cancel`; for a
   * cancellation the daemon's confirming `ResponseEnd` is awaited (up to cancelGraceMs), for a
   * passed deadline the call fails at once. Either way the stream stays registered until the
   * daemon ends it.
   */
  #stop(call: Call, code: StatusCode, message: string, cause?: unknown): void {
    if (call.settled || call.stopping !== null) return;
    if (call.state === 'queued') {
      this.#queue = this.#queue.filter((c) => c !== call);
      call.failLocally(code, message, { cause });
      return;
    }
    call.stopping = cause === undefined ? { code, message } : { code, message, cause };
    const conn = call.conn;
    if (conn !== null && !conn.closed && (conn.info.features & Features.Cancel) !== 0n) {
      conn.send(encodeCancel(call.streamId, message));
      if (code === 'CANCELLED') {
        call.after(this.#cancelGraceMs, () => call.failLocally(code, message, { cause }));
        return;
      }
    }
    call.failLocally(code, message, { cause });
  }

  #afterSettle(call: Call): void {
    if (call.state === 'queued') this.#queue = this.#queue.filter((c) => c !== call);
    this.#updateActivity();
  }

  // ------------------------------------------------------------------------- writing

  #usableConnection(): Connection | null {
    const conn = this.#active;
    return conn !== null && !conn.closed && conn.goAway === null ? conn : null;
  }

  /** Writes queued calls while the connection has stream slots and buffer room. */
  #pump(): void {
    while (this.#queue.length > 0) {
      const conn = this.#usableConnection();
      if (conn === null) {
        this.#active = null;
        this.#connect();
        break;
      }
      if (!conn.acceptsStreams || !conn.writable) break;
      this.#write(this.#queue.shift()!, conn);
    }
    this.#updateActivity();
  }

  #write(call: Call, conn: Connection): void {
    if (call.settled) return;
    let timeoutMs = 0;
    if (call.deadline !== undefined) {
      const left = call.deadline - performance.now();
      if (left <= 0) {
        call.failLocally('DEADLINE_EXCEEDED', 'the deadline passed before the request was sent');
        return;
      }
      timeoutMs = Math.min(Math.ceil(left), MAX_WIRE_TIMEOUT_MS);
    }
    const streamId = conn.openStream(call);
    let frame: Uint8Array;
    try {
      frame = call.encode(streamId, timeoutMs);
    } catch (err) {
      conn.forgetStream(streamId);
      call.failLocally('INVALID_ARGUMENT', `cannot encode the request: ${(err as Error).message}`, { cause: err });
      return;
    }
    if (frame.length - 4 > conn.info.maxFrameSize) {
      conn.forgetStream(streamId);
      call.failLocally('INVALID_ARGUMENT',
        `the request frame is ${frame.length - 4} bytes, over the negotiated max_frame_size of ${conn.info.maxFrameSize}`);
      return;
    }
    call.state = 'sent';
    call.conn = conn;
    call.streamId = streamId;
    conn.send(frame);
  }

  #updateActivity(): void {
    for (const conn of this.#connections) {
      conn.setActive(conn.streams.size > 0 || (conn === this.#active && this.#queue.length > 0));
    }
  }

  // ------------------------------------------------------------------------- connections

  #connect(): void {
    if (this.#connecting || this.#closed || this.#retryTimer !== null) return;
    this.#connecting = true;
    const socketPath = this.socketPath;
    this.#dialing = new AbortController();
    Connection.open({
      socketPath,
      timeoutMs: this.#connectTimeoutMs,
      signal: this.#dialing.signal,
      events: this.#events,
      verifyServer: this.verifiesServer,
      expectedServerUid: this.#expectedServerUid,
      hello: {
        clientName: this.#clientName,
        clientVersion: this.#clientVersion,
        sdkLanguage: SDK_LANGUAGE,
        maxFrameSize: this.#maxFrameSize,
        features: ALL_FEATURES,
      },
    }).then(
      (conn) => this.#onConnected(conn),
      (err: unknown) => this.#onConnectFailed(err instanceof OutriggerError ? err : new OutriggerError({
        code: 'UNAVAILABLE', retryable: true, origin: 'client/connection',
        message: `cannot connect to ${socketPath}: ${String(err)}`, cause: err,
      })),
    );
  }

  #onConnected(conn: Connection): void {
    this.#connecting = false;
    this.#dialing = null;
    if (this.#closed) {
      conn.close();
      return;
    }
    this.#connects++;
    if (conn.closed) {
      if (this.#queue.length > 0) this.#scheduleRetry();
      return;
    }
    this.#connections.add(conn);
    this.#active = conn;
    const waiters = this.#connectWaiters;
    this.#connectWaiters = [];
    for (const w of waiters) w.resolve(conn.info);
    this.#pump();
  }

  #onConnectFailed(err: OutriggerError): void {
    this.#connecting = false;
    this.#dialing = null;
    this.#rejectConnectWaiters(err);
    if (this.#closed) return;
    const now = performance.now();
    // A refused handshake or an untrusted server will not change by retrying soon.
    const permanent = err.origin === ORIGIN_HANDSHAKE || !err.retryable;
    for (const call of [...this.#queue]) {
      if (permanent || now - call.enqueuedAt >= this.#connectTimeoutMs) call.fail(err);
    }
    if (this.#queue.length > 0) this.#scheduleRetry();
  }

  /** Reconnects after a growing delay; reset once a connection has completed a stream. */
  #scheduleRetry(): void {
    if (this.#retryTimer !== null || this.#closed) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.#pump();
    }, this.#retryDelay);
    this.#retryDelay = Math.min(this.#retryDelay * 2, RETRY_MAX_MS);
  }

  #rejectConnectWaiters(err: unknown): void {
    const waiters = this.#connectWaiters;
    this.#connectWaiters = [];
    for (const w of waiters) w.reject(err);
  }

  #closedError(): OutriggerError {
    return new OutriggerError({
      code: 'FAILED_PRECONDITION', origin: 'client', message: 'the client is closed',
    });
  }

  readonly #events: ConnectionEvents = {
    goAway: (conn, goAway) => this.#onGoAway(conn, goAway),
    closed: (conn, reason) => this.#onClosed(conn, reason),
    writable: () => this.#pump(),
    streamEnded: (conn) => {
      this.#retryDelay = RETRY_MIN_MS;
      if (conn.goAway !== null && conn.streams.size === 0) conn.close('drained after GoAway');
      this.#pump();
    },
  };

  /**
   * Streams above `last_stream_id` were never started by the daemon, so they go back to the
   * front of the queue, in their original order, for the next connection.
   */
  #onGoAway(conn: Connection, goAway: GoAwayFrame): void {
    this.#goAways++;
    if (this.#active === conn) this.#active = null;
    const retry: Call[] = [];
    for (const [id, sink] of [...conn.streams]) {
      if (id <= goAway.lastStreamId) continue;
      conn.forgetStream(id);
      const call = sink as Call;
      call.conn = null;
      call.state = 'queued';
      if (call.settled) continue;
      if (call.stopping !== null) {
        call.failLocally(call.stopping.code, call.stopping.message, { cause: call.stopping.cause });
        continue;
      }
      retry.push(call);
    }
    this.#queue.unshift(...retry);
    // A daemon that turns every stream away (still draining while accepting connections)
    // must not be redialled in a tight loop. The retry timer is set before the close below,
    // whose handler would otherwise redial at once.
    const refusedAll = goAway.lastStreamId === 0 && this.#queue.length > 0;
    if (refusedAll) this.#scheduleRetry();
    if (conn.streams.size === 0) conn.close('drained after GoAway');
    if (!refusedAll) this.#pump();
  }

  #onClosed(conn: Connection, reason: OutriggerError): void {
    this.#connections.delete(conn);
    if (this.#active === conn) this.#active = null;
    const lost = [...conn.streams.values()] as Call[];
    conn.streams.clear();
    for (const call of lost) {
      call.state = 'done';
      call.conn = null;
      call.fail(new OutriggerError({
        code: 'UNAVAILABLE', retryable: true, origin: reason.origin,
        message: `the connection was lost after the request was sent (${reason.detail})`,
        cause: reason,
      }));
    }
    if (this.#queue.length > 0) this.#pump();
  }
}
