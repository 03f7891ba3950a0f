// One Unix-socket connection to the daemon: handshake, framing, batched writes, and routing of
// inbound frames to the streams open on it. Policy (queueing, retries, deadlines) lives in the
// client; this class only moves frames and reports what happened.

import * as net from 'node:net';
import {
  decodeFrame,
  encodeHello,
  encodePing,
  encodePong,
  type EndFrame,
  type GoAwayFrame,
  type HelloInit,
  type InboundFrame,
  PROTO_MAJOR,
} from './codec.js';
import { ORIGIN_CONNECTION, ORIGIN_HANDSHAKE, OutriggerError } from './errors.js';
import { FrameReader } from './framing.js';
import { Heartbeat } from './heartbeat.js';
import type { ServerInfo, StreamChunk, StreamStart } from './types.js';
import { checkServer } from './verify.js';

/** Receives the frames of one stream. */
export interface StreamSink {
  onStart(start: StreamStart): void;
  /** `frameBytes`: the size of the frame that carried the chunk. */
  onChunk(chunk: StreamChunk, frameBytes: number): void;
  /** The stream's single `ResponseEnd`; the stream is already unregistered. */
  onEnd(end: EndFrame): void;
}

/** What a connection reports to its owner. Every callback runs on the event loop. */
export interface ConnectionEvents {
  /** The daemon stops taking streams; those above `goAway.lastStreamId` were never started. */
  goAway(conn: Connection, goAway: GoAwayFrame): void;
  /** The socket is gone. `conn.streams` still holds the streams that never ended. */
  closed(conn: Connection, reason: OutriggerError): void;
  /** Buffered writes have drained; more requests may be written. */
  writable(conn: Connection): void;
  /** A stream ended, freeing a concurrency slot. */
  streamEnded(conn: Connection): void;
}

export interface OpenOptions {
  socketPath: string;
  hello: HelloInit;
  /** Limit for connect + handshake. */
  timeoutMs: number;
  events: ConnectionEvents;
  /** Check the socket's owner before sending `Hello` (see verify.ts). */
  verifyServer: boolean;
  expectedServerUid?: number;
  /** Aborting gives the attempt up at once, releasing its socket and timer (the client closed). */
  signal?: AbortSignal;
}

export class Connection {
  /** Streams written and not yet ended, by stream id. */
  readonly streams = new Map<number, StreamSink>();
  readonly info: ServerInfo;
  #socket: net.Socket;
  #reader: FrameReader;
  #events: ConnectionEvents;
  #outbox: Uint8Array[] = [];
  #flushQueued = false;
  #blocked = false;
  #nextStreamId = 1;
  #goAway: GoAwayFrame | null = null;
  #closed = false;
  #heartbeat: Heartbeat | null = null;

  private constructor(socket: net.Socket, reader: FrameReader, info: ServerInfo, events: ConnectionEvents) {
    this.#socket = socket;
    this.#reader = reader;
    this.info = info;
    this.#events = events;
    reader.maxFrameSize = info.maxFrameSize;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('drain', () => {
      this.#blocked = false;
      this.#events.writable(this);
    });
    socket.on('error', (err) => this.#fail(`socket error: ${err.message}`, err));
    socket.on('close', () => this.#fail('connection closed by the daemon'));
    if (info.heartbeatMs > 0) {
      this.#heartbeat = new Heartbeat(
        info.heartbeatMs,
        (opaque) => this.send(encodePing(opaque)),
        (silentMs) => this.#fail(`no frame from the daemon for ${Math.round(silentMs)} ms ` +
          `(heartbeat every ${info.heartbeatMs} ms)`),
      );
    }
  }

  /**
   * Connects, checks the server when asked to, sends `Hello` and waits for `HelloAck`. Rejects
   * with an {@link OutriggerError}.
   */
  static open(options: OpenOptions): Promise<Connection> {
    return new Promise<Connection>((resolve, reject) => {
      const reader = new FrameReader(options.hello.maxFrameSize);
      const socket = net.createConnection({ path: options.socketPath });
      let settled = false;
      const fail = (err: OutriggerError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        socket.destroy();
        reject(err);
      };
      const unavailable = (message: string, cause?: unknown): OutriggerError =>
        new OutriggerError({
          code: 'UNAVAILABLE', retryable: true, origin: ORIGIN_CONNECTION, cause,
          message: `${options.socketPath}: ${message}`,
        });
      // setTimeout fires at once for 2^31 ms or more; a connect timeout that long is none.
      const timer = setTimeout(
        () => fail(unavailable(`no HelloAck within ${options.timeoutMs} ms`)), Math.min(options.timeoutMs, 2 ** 31 - 1));
      const onAbort = (): void => fail(new OutriggerError({
        code: 'CANCELLED', origin: ORIGIN_CONNECTION, message: `${options.socketPath}: connecting was abandoned`,
      }));
      if (options.signal?.aborted === true) onAbort();
      else options.signal?.addEventListener('abort', onAbort, { once: true });

      socket.once('connect', () => {
        const refused = options.verifyServer ? checkServer(options.socketPath, options.expectedServerUid) : null;
        if (refused !== null) fail(refused);
        else socket.write(encodeHello(options.hello));
      });
      socket.on('error', (err) => fail(unavailable(err.message, err)));
      socket.on('close', () => fail(unavailable('closed during the handshake')));
      const onData = (chunk: Buffer): void => {
        let frames: Uint8Array[];
        let first: InboundFrame;
        try {
          frames = reader.push(chunk);
          if (frames.length === 0) return;
          first = decodeFrame(frames[0]!);
        } catch (err) {
          fail(unavailable(`bad frame during the handshake: ${(err as Error).message}`, err));
          return;
        }
        if (first.kind === 'Error') {
          const e = first.error;
          const range = e.supportedMajorMin || e.supportedMajorMax
            ? ` (daemon supports protocol ${e.supportedMajorMin}..${e.supportedMajorMax}, this SDK speaks ${PROTO_MAJOR})`
            : '';
          fail(new OutriggerError({
            code: e.code, status: e.status, origin: ORIGIN_HANDSHAKE,
            message: `${e.message ?? 'handshake refused'}${range}`,
          }));
          return;
        }
        if (first.kind !== 'HelloAck' || first.streamId !== 0) {
          fail(unavailable(`expected HelloAck on stream 0, got ${first.kind} on stream ${first.streamId}`));
          return;
        }
        if (first.ack.protoMajor !== PROTO_MAJOR) {
          fail(new OutriggerError({
            code: 'FAILED_PRECONDITION', origin: ORIGIN_HANDSHAKE,
            message: `daemon answered protocol ${first.ack.protoMajor}, this SDK speaks ${PROTO_MAJOR}`,
          }));
          return;
        }
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        socket.removeAllListeners();
        const ack = { ...first.ack };
        if (ack.maxFrameSize === 0 || ack.maxFrameSize > options.hello.maxFrameSize) {
          ack.maxFrameSize = options.hello.maxFrameSize;
        }
        const conn = new Connection(socket, reader, ack, options.events);
        resolve(conn);
        // Frames that arrived in the same read as the HelloAck go out after the owner has
        // taken the connection (its resolution callback is already queued ahead of this).
        const early = frames.slice(1);
        if (early.length > 0) {
          queueMicrotask(() => {
            for (const body of early) if (!conn.#closed) conn.#dispatchBody(body);
          });
        }
      };
      socket.on('data', onData);
    });
  }

  /** Set once the daemon sent `GoAway`: no new streams go to this connection. */
  get goAway(): GoAwayFrame | null {
    return this.#goAway;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** True when a new stream may be opened here now. */
  get acceptsStreams(): boolean {
    if (this.#closed || this.#goAway !== null) return false;
    const max = this.info.maxConcurrentStreams;
    return max === 0 || this.streams.size < max;
  }

  /** False while the socket's write buffer is over its high-water mark. */
  get writable(): boolean {
    return !this.#blocked && !this.#closed;
  }

  /** Registers `sink` under a fresh stream id and returns the id. */
  openStream(sink: StreamSink): number {
    const id = this.#nextStreamId++;
    this.streams.set(id, sink);
    return id;
  }

  /** Drops a stream without waiting for its end (its later frames are ignored). */
  forgetStream(id: number): void {
    this.streams.delete(id);
  }

  /** Queues a complete frame; frames queued in the same tick go out in one write. */
  send(frame: Uint8Array): void {
    if (this.#closed) return;
    this.#outbox.push(frame);
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(() => this.#flush());
    }
  }

  /** Keeps the process alive while calls are in flight, and lets it exit when idle. */
  setActive(active: boolean): void {
    if (active) this.#socket.ref();
    else this.#socket.unref();
  }

  /** Closes the socket. Streams still open are reported through `closed`. */
  close(reason = 'closed by the client'): void {
    this.#fail(reason);
  }

  #flush(): void {
    this.#flushQueued = false;
    if (this.#closed || this.#outbox.length === 0) return;
    const frames = this.#outbox;
    this.#outbox = [];
    const data = frames.length === 1 ? frames[0]! : Buffer.concat(frames);
    if (!this.#socket.write(data)) this.#blocked = true;
  }

  #onData(chunk: Buffer): void {
    let bodies: Uint8Array[];
    try {
      bodies = this.#reader.push(chunk);
    } catch (err) {
      this.#fail(`protocol error: ${(err as Error).message}`, err);
      return;
    }
    if (bodies.length > 0) this.#heartbeat?.sawFrame();
    for (const body of bodies) {
      if (this.#closed) return;
      this.#dispatchBody(body);
    }
  }

  #dispatchBody(body: Uint8Array): void {
    let frame: InboundFrame;
    try {
      frame = decodeFrame(body);
    } catch (err) {
      this.#fail(`protocol error: ${(err as Error).message}`, err);
      return;
    }
    if (frame.streamId === 0) {
      this.#onConnectionFrame(frame);
      return;
    }
    const sink = this.streams.get(frame.streamId);
    if (sink === undefined) return; // finished or forgotten stream: ignored by the protocol
    switch (frame.kind) {
      case 'ResponseStart':
        sink.onStart(frame.start);
        break;
      case 'ResponseChunk':
        sink.onChunk(frame.chunk, body.length);
        break;
      case 'ResponseEnd':
        this.streams.delete(frame.streamId);
        sink.onEnd(frame.end);
        this.#events.streamEnded(this);
        break;
      default:
        break; // a body a stream never carries towards the client
    }
  }

  #onConnectionFrame(frame: InboundFrame): void {
    switch (frame.kind) {
      case 'Ping':
        this.send(encodePong(frame.opaque));
        break;
      case 'GoAway':
        if (this.#goAway === null || frame.goAway.lastStreamId < this.#goAway.lastStreamId) {
          this.#goAway = frame.goAway;
          this.#events.goAway(this, frame.goAway);
        }
        break;
      case 'Error': {
        const e = frame.error;
        this.#fail(`daemon reported ${e.code}: ${e.message ?? ''}`);
        break;
      }
      default:
        break; // Pong, or connection-level frames from a newer protocol minor
    }
  }

  #fail(message: string, cause?: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#heartbeat?.stop();
    this.#outbox = [];
    this.#socket.destroy();
    this.#events.closed(this, new OutriggerError({
      code: 'UNAVAILABLE', retryable: true, origin: ORIGIN_CONNECTION, message, cause,
    }));
  }
}
