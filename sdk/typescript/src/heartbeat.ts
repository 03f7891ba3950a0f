// Liveness of a connection whose daemon announced `HelloAck.heartbeat_ms`: a Ping every
// interval, and the connection is given up once nothing at all has been read for three
// intervals, so calls on a stalled daemon (stopped, hung, a half-open socket) fail instead of
// waiting forever.
//
// The daemon sends Pongs only in answer to Pings, and no Ping leaves while this process is
// blocked. So silence is counted only from when the client was listening again: a tick that
// fires more than an interval late restarts the count and pings at once.

/** Intervals without any frame read after which the daemon counts as gone. */
export const MISSED_INTERVALS = 3;
/** setInterval treats longer delays as 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class Heartbeat {
  readonly intervalMs: number;
  /** Silence is measured from here: the last frame read, or the end of a stretch away. */
  #listeningSince = performance.now();
  #lastTick = performance.now();
  #pings = 0n;
  #timer: ReturnType<typeof setInterval>;
  readonly #ping: (opaque: bigint) => void;
  readonly #silent: (silentMs: number) => void;

  constructor(intervalMs: number, ping: (opaque: bigint) => void, silent: (silentMs: number) => void) {
    this.intervalMs = Math.min(intervalMs, MAX_TIMER_MS);
    this.#ping = ping;
    this.#silent = silent;
    this.#timer = setInterval(() => this.#tick(), this.intervalMs);
    this.#timer.unref(); // never the reason the process stays alive
  }

  /** Any frame read counts as a sign of life. */
  sawFrame(): void {
    this.#listeningSince = performance.now();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  #tick(): void {
    const now = performance.now();
    const late = now - this.#lastTick > 2 * this.intervalMs;
    this.#lastTick = now;
    if (late) {
      // This process was blocked: no Ping went out, so no Pong could come back meanwhile.
      this.#listeningSince = now;
    }
    if (!this.#tooQuiet()) {
      this.#ping(++this.#pings);
      return;
    }
    // Timers run before socket reads in an event loop turn: after this process itself was busy,
    // frames may be waiting unread. Judge again once they have been read.
    setImmediate(() => {
      if (this.#tooQuiet()) {
        this.stop();
        this.#silent(performance.now() - this.#listeningSince);
      }
    });
  }

  #tooQuiet(): boolean {
    return performance.now() - this.#listeningSince > MISSED_INTERVALS * this.intervalMs;
  }
}
