// A scripted in-process stand-in for the daemon, for tests of client behaviour that the real
// daemon cannot be made to show on demand (dropped sockets, oversized frames, GoAway timing).
// It speaks the real wire format through the generated code.

import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as flatbuffers from 'flatbuffers';
import * as wire from '../../src/generated/outrigger_generated.js';
import { describeFrameBody, type Json } from '../../src/describe.js';
import { FrameReader } from '../../src/framing.js';
import { ALL_FEATURES } from '../../src/codec.js';

type Obj = { [key: string]: Json };

export interface ReceivedRequest {
  streamId: number;
  /** The canonical description of the Request body. */
  body: Obj;
  conn: FakeConnection;
}

export interface EndFields {
  status?: wire.Status;
  retryable?: boolean;
  retryAfterMs?: number;
  origin?: string;
  message?: string;
  content?: string;
  traceId?: string;
  reachedProvider?: boolean;
  /** Default `stop`. */
  finishReason?: string;
  refusal?: boolean;
  systemFingerprint?: string;
  serviceTier?: string;
  toolCalls?: Array<{ id: string; type: string; name: string; arguments: string }>;
}

/** What the upstream said as its stream began. */
export interface StartMeta {
  systemFingerprint?: string;
  serviceTier?: string;
}

export interface AckFields {
  maxFrameSize?: number;
  maxConcurrentStreams?: number;
  features?: bigint;
  /** The interval the client should ping at (default 0: no heartbeat). */
  heartbeatMs?: number;
}

function finish(b: flatbuffers.Builder, streamId: number, type: wire.Body, body: number): Uint8Array {
  const frame = wire.Frame.createFrame(b, BigInt(streamId), type, body);
  wire.Frame.finishSizePrefixedFrameBuffer(b, frame);
  return b.asUint8Array().slice();
}

export function helloAckFrame(ack: AckFields = {}): Uint8Array {
  const b = new flatbuffers.Builder(128);
  const version = b.createString('fake-0');
  const body = wire.HelloAck.createHelloAck(b, 1, 0, version, ack.maxFrameSize ?? 4 << 20,
    ack.maxConcurrentStreams ?? 0, ack.features ?? ALL_FEATURES, ack.heartbeatMs ?? 0);
  return finish(b, 0, wire.Body.HelloAck, body);
}

export function errorFrame(status: wire.Status, message: string, min = 0, max = 0): Uint8Array {
  const b = new flatbuffers.Builder(128);
  const body = wire.Error.createError(b, status, b.createString(message), min, max);
  return finish(b, 0, wire.Body.Error, body);
}

export function pongFrame(opaque: bigint): Uint8Array {
  const b = new flatbuffers.Builder(64);
  return finish(b, 0, wire.Body.Pong, wire.Pong.createPong(b, opaque));
}

export function goAwayFrame(lastStreamId: number, drainMs = 1000): Uint8Array {
  const b = new flatbuffers.Builder(128);
  const body = wire.GoAway.createGoAway(b, BigInt(lastStreamId), b.createString('shutting down'), drainMs);
  return finish(b, 0, wire.Body.GoAway, body);
}

export function startFrame(streamId: number, traceId = 'trace-1', meta: StartMeta = {}): Uint8Array {
  const b = new flatbuffers.Builder(128);
  const fingerprint = meta.systemFingerprint === undefined ? 0 : b.createString(meta.systemFingerprint);
  const tier = meta.serviceTier === undefined ? 0 : b.createString(meta.serviceTier);
  const body = wire.ResponseStart.createResponseStart(
    b, b.createString('fake-model'), b.createString('provider/fake'), false, b.createString(traceId),
    fingerprint, tier);
  return finish(b, streamId, wire.Body.ResponseStart, body);
}

/** A chunk; with `refusal`, its delta is the model's refusal text. */
export function chunkFrame(streamId: number, seq: number, delta: string, refusal = false): Uint8Array {
  const b = new flatbuffers.Builder(128);
  const body = wire.ResponseChunk.createResponseChunk(b, seq, b.createString(delta), 0, refusal);
  return finish(b, streamId, wire.Body.ResponseChunk, body);
}

export function endFrame(streamId: number, e: EndFields = {}): Uint8Array {
  const b = new flatbuffers.Builder(256);
  const origin = e.origin === undefined ? 0 : b.createString(e.origin);
  const message = e.message === undefined ? 0 : b.createString(e.message);
  const content = e.content === undefined ? 0 : b.createString(e.content);
  const trace = e.traceId === undefined ? 0 : b.createString(e.traceId);
  const fingerprint = e.systemFingerprint === undefined ? 0 : b.createString(e.systemFingerprint);
  const tier = e.serviceTier === undefined ? 0 : b.createString(e.serviceTier);
  const finishReason = b.createString(e.finishReason ?? 'stop');
  const calls = e.toolCalls === undefined ? 0 : wire.ResponseEnd.createToolCallsVector(b, e.toolCalls.map((c) =>
    wire.ToolCall.createToolCall(b, b.createString(c.id), b.createString(c.type), b.createString(c.name),
      b.createString(c.arguments))));
  wire.ResponseEnd.startResponseEnd(b);
  wire.ResponseEnd.addStatus(b, e.status ?? wire.Status.OK);
  wire.ResponseEnd.addRetryable(b, e.retryable ?? false);
  wire.ResponseEnd.addRetryAfterMs(b, e.retryAfterMs ?? 0);
  wire.ResponseEnd.addReachedProvider(b, e.reachedProvider ?? false);
  if (origin) wire.ResponseEnd.addOrigin(b, origin);
  if (message) wire.ResponseEnd.addMessage(b, message);
  if (content) wire.ResponseEnd.addContent(b, content);
  wire.ResponseEnd.addFinishReason(b, finishReason);
  if (calls) wire.ResponseEnd.addToolCalls(b, calls);
  if (trace) wire.ResponseEnd.addTraceId(b, trace);
  if (e.refusal) wire.ResponseEnd.addRefusal(b, true);
  if (fingerprint) wire.ResponseEnd.addSystemFingerprint(b, fingerprint);
  if (tier) wire.ResponseEnd.addServiceTier(b, tier);
  return finish(b, streamId, wire.Body.ResponseEnd, wire.ResponseEnd.endResponseEnd(b));
}

/** The user text of a described request: its last message's content. */
export function lastContent(body: Obj): string {
  const messages = body['messages'] as Obj[] | undefined;
  const last = messages?.[messages.length - 1];
  return (last?.['content'] as string | undefined) ?? '';
}

export class FakeConnection {
  /** Every frame received, described. */
  readonly frames: Obj[] = [];
  readonly cancelled: number[] = [];
  /** Every byte received, counted as it arrives. */
  bytesReceived = 0;
  /** Set once the socket is closed (after its last bytes were counted). */
  closed = false;
  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.bytesReceived += chunk.length;
    });
    socket.on('close', () => {
      this.closed = true;
    });
  }

  send(...frames: Uint8Array[]): void {
    if (!this.socket.destroyed) this.socket.write(Buffer.concat(frames));
  }

  drop(): void {
    this.socket.destroy();
  }
}

export interface FakeDaemonOptions {
  /** Where to listen (default: a fresh temporary directory). */
  socketPath?: string;
  ack?: AckFields;
  /** Answer Hello with this frame instead of a HelloAck. */
  handshake?: Uint8Array;
  /** Answer Hello at all (default true); false plays a daemon whose handshake hangs. */
  answerHello?: boolean;
  /**
   * Handles a Request. The default echoes the last message: streamed as one chunk when
   * `stream` is set, whole otherwise. Return without answering to leave the stream pending.
   */
  onRequest?: (req: ReceivedRequest, daemon: FakeDaemon) => void;
  /** Answer Cancel with ResponseEnd CANCELLED (default true). */
  answerCancel?: boolean;
  /** Answer Ping with Pong (default true); false plays a daemon that has stopped. */
  answerPing?: boolean;
  /** Runs right after the HelloAck is sent. */
  afterHello?: (conn: FakeConnection, daemon: FakeDaemon) => void;
}

export function echo(req: ReceivedRequest, daemon: FakeDaemon): void {
  const text = lastContent(req.body);
  if (req.body['stream'] === true) {
    req.conn.send(startFrame(req.streamId), chunkFrame(req.streamId, 0, text));
    daemon.end(req, { origin: 'provider/fake' });
  } else {
    daemon.end(req, { content: text, origin: 'provider/fake' });
  }
}

export class FakeDaemon {
  readonly socketPath: string;
  readonly connections: FakeConnection[] = [];
  readonly requests: ReceivedRequest[] = [];
  /** Streams not yet ended, per connection. */
  readonly #open = new Map<FakeConnection, Set<number>>();
  #server: net.Server;
  #dir: string;
  #options: FakeDaemonOptions;

  private constructor(dir: string, options: FakeDaemonOptions) {
    this.#dir = dir;
    this.socketPath = options.socketPath ?? path.join(dir, 'fake.sock');
    this.#options = options;
    this.#server = net.createServer((socket) => this.#accept(socket));
  }

  static async start(options: FakeDaemonOptions = {}): Promise<FakeDaemon> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outrigger-ts-fake-'));
    const daemon = new FakeDaemon(dir, options);
    await new Promise<void>((resolve) => daemon.#server.listen(daemon.socketPath, resolve));
    return daemon;
  }

  set onRequest(handler: (req: ReceivedRequest, daemon: FakeDaemon) => void) {
    this.#options.onRequest = handler;
  }

  /** Ends a stream the handler left pending. */
  end(req: ReceivedRequest, fields: EndFields = {}): void {
    this.#open.get(req.conn)?.delete(req.streamId);
    req.conn.send(endFrame(req.streamId, fields));
  }

  async stop(): Promise<void> {
    for (const c of this.connections) c.drop();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    fs.rmSync(this.#dir, { recursive: true, force: true });
  }

  /** Waits until `predicate` holds, polling the event loop (for frames still in flight). */
  async until(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const start = Date.now();
    while (!predicate()) {
      if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  #accept(socket: net.Socket): void {
    const conn = new FakeConnection(socket);
    this.connections.push(conn);
    this.#open.set(conn, new Set());
    const reader = new FrameReader(64 << 20);
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      for (const body of reader.push(chunk)) this.#onFrame(conn, describeFrameBody(body));
    });
  }

  #onFrame(conn: FakeConnection, frame: Obj): void {
    conn.frames.push(frame);
    const streamId = frame['stream_id'] as number;
    switch (frame['body_type']) {
      case 'Hello':
        if (this.#options.answerHello === false) break;
        conn.send(this.#options.handshake ?? helloAckFrame(this.#options.ack));
        if (this.#options.handshake !== undefined) conn.socket.end();
        this.#options.afterHello?.(conn, this);
        break;
      case 'Request': {
        const req: ReceivedRequest = { streamId, body: frame['body'] as Obj, conn };
        this.requests.push(req);
        this.#open.get(conn)!.add(streamId);
        (this.#options.onRequest ?? echo)(req, this);
        break;
      }
      case 'Feedback':
        conn.send(endFrame(streamId));
        break;
      case 'Ping':
        if (this.#options.answerPing !== false) {
          conn.send(pongFrame(BigInt((frame['body'] as Obj)['opaque'] as number)));
        }
        break;
      case 'Cancel':
        conn.cancelled.push(streamId);
        if (this.#options.answerCancel !== false && this.#open.get(conn)!.delete(streamId)) {
          conn.send(endFrame(streamId, { status: wire.Status.CANCELLED, origin: 'sidecar/fake', message: 'cancelled' }));
        }
        break;
      default:
        break;
    }
  }
}
