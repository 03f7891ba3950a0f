import { Status } from './generated/outrigger_generated.js';
import type { GuardrailVerdict } from './types.js';

/** The wire status names: the gRPC code set, as `ResponseEnd.status` carries it. */
export type StatusCode = keyof typeof Status;

/** Every status name, indexed by its wire number. */
const STATUS_NAMES: readonly StatusCode[] = Object.keys(Status).filter(
  (key): key is StatusCode => Number.isNaN(Number(key)),
);

/** The name of a wire status number; numbers this SDK does not know map to `UNKNOWN`. */
export function statusName(status: number): StatusCode {
  const name = Status[status] as StatusCode | undefined;
  return name ?? 'UNKNOWN';
}

/** The wire number of a status name. */
export function statusNumber(code: StatusCode): number {
  return Status[code];
}

/** All status names, in wire order. */
export function allStatusCodes(): readonly StatusCode[] {
  return STATUS_NAMES;
}

/**
 * `origin` values for failures decided inside this SDK rather than by the daemon. Daemon
 * origins look like `stage/instance`, for example `provider/mock`.
 */
export const ORIGIN_CLIENT = 'client';
/** The connection to the daemon failed or was lost. */
export const ORIGIN_CONNECTION = 'client/connection';
/** The daemon refused the connection with an `Error` frame on stream 0. */
export const ORIGIN_HANDSHAKE = 'sidecar/handshake';

export interface OutriggerErrorInit {
  code: StatusCode;
  message?: string;
  retryable?: boolean;
  retryAfterMs?: number;
  origin?: string;
  traceId?: string;
  verdicts?: GuardrailVerdict[];
  /** The wire number when it is not one this SDK knows by name. */
  status?: number;
  /** The daemon had started a provider attempt (see {@link OutriggerError.reachedProvider}). */
  reachedProvider?: boolean;
  cause?: unknown;
}

/**
 * The one error type of this SDK: a call or a connection ended with a non-OK status.
 *
 * `code` says what to do: `UNAVAILABLE` may be retried, `RESOURCE_EXHAUSTED` after
 * `retryAfterMs`, `INVALID_ARGUMENT` and `PERMISSION_DENIED` never. `retryable` is the
 * daemon's own judgement for this failure and is the flag to branch on.
 */
export class OutriggerError extends Error {
  override readonly name = 'OutriggerError';
  /** The status name, e.g. `DEADLINE_EXCEEDED`. */
  readonly code: StatusCode;
  /** The status number on the wire (gRPC numbering). */
  readonly status: number;
  readonly retryable: boolean;
  /** Wait at least this long before retrying; 0 when the daemon gave no hint. */
  readonly retryAfterMs: number;
  /** Who decided the outcome: `stage/instance` from the daemon, or `client...` locally. */
  readonly origin: string;
  /** The message exactly as the daemon (or this SDK) gave it, without the code prefix. */
  readonly detail: string;
  readonly traceId: string | undefined;
  readonly verdicts: GuardrailVerdict[];
  /**
   * The daemon had started a provider attempt, so the upstream may have acted on the request.
   * Only the daemon reports it: errors decided by this SDK say `false`.
   */
  readonly reachedProvider: boolean;

  constructor(init: OutriggerErrorInit) {
    const origin = init.origin ?? '';
    const detail = init.message ?? '';
    const where = origin ? ` (${origin})` : '';
    super(`${init.code}${where}${detail ? `: ${detail}` : ''}`, { cause: init.cause });
    this.code = init.code;
    this.status = init.status ?? statusNumber(init.code);
    this.retryable = init.retryable ?? false;
    this.retryAfterMs = init.retryAfterMs ?? 0;
    this.origin = origin;
    this.detail = detail;
    this.traceId = init.traceId;
    this.verdicts = init.verdicts ?? [];
    this.reachedProvider = init.reachedProvider ?? false;
  }
}

/** True when `err` is an {@link OutriggerError}, optionally with the given code. */
export function isOutriggerError(err: unknown, code?: StatusCode): err is OutriggerError {
  return err instanceof OutriggerError && (code === undefined || err.code === code);
}
