"""Typed errors mirroring the wire status set.

Every failed call raises an `OutriggerError` (or a subclass named after its status), carrying
what the daemon said: the status code, whether a retry may succeed, how long to wait first, the
`origin` (`stage/instance`) that decided the outcome, a message, whether the request reached a
provider, and the guardrails' verdicts up to the error. Failures detected in this library carry an origin starting with `client/`.
"""

from __future__ import annotations

from typing import Any, Dict, Tuple, Type

from .types import GuardrailVerdict, StatusCode


class OutriggerError(Exception):
    """A call (or the connection it used) ended without an answer."""

    status: StatusCode
    message: str
    retryable: bool
    retry_after_ms: int
    origin: str
    trace_id: str
    reached_provider: bool
    """The daemon had started a provider attempt, so the upstream may have acted on the request.
    Only the daemon reports it: errors decided by this client say False."""
    verdicts: Tuple[GuardrailVerdict, ...]
    """The guardrails' verdicts up to the error: a guardrail's denial names itself here. Empty on
    errors decided by this client."""

    def __init__(self, status: StatusCode, message: str = "", *, retryable: bool = False,
                 retry_after_ms: int = 0, origin: str = "", trace_id: str = "",
                 reached_provider: bool = False, verdicts: Tuple[GuardrailVerdict, ...] = ()) -> None:
        self.status = StatusCode(status)
        self.message = message
        self.retryable = retryable
        self.retry_after_ms = retry_after_ms
        self.origin = origin
        self.trace_id = trace_id
        self.reached_provider = reached_provider
        self.verdicts = tuple(verdicts)
        super().__init__(self._text())

    def _text(self) -> str:
        text = self.status.name
        if self.origin:
            text += " from " + self.origin
        if self.message:
            text += ": " + self.message
        if self.retryable:
            text += " (retryable"
            text += ", after %d ms)" % self.retry_after_ms if self.retry_after_ms else ")"
        return text

    @property
    def retry_after(self) -> float:
        """`retry_after_ms` in seconds."""
        return self.retry_after_ms / 1000.0

    def __repr__(self) -> str:
        return "%s(%s, %r, retryable=%r, retry_after_ms=%d, origin=%r, reached_provider=%r)" % (
            type(self).__name__, self.status.name, self.message, self.retryable, self.retry_after_ms, self.origin,
            self.reached_provider)

    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...], Dict[str, Any]]:
        # Keeps copy.copy() and pickle working although __init__ does not take the message text.
        return (_rebuild, (type(self), self.status, self.message, self.retryable, self.retry_after_ms,
                           self.origin, self.trace_id, self.reached_provider, self.verdicts), dict(self.__dict__))


def _rebuild(cls: Type[OutriggerError], status: StatusCode, message: str, retryable: bool, retry_after_ms: int,
             origin: str, trace_id: str, reached_provider: bool = False,
             verdicts: Tuple[GuardrailVerdict, ...] = ()) -> OutriggerError:
    err = OutriggerError.__new__(cls)
    OutriggerError.__init__(err, status, message, retryable=retryable, retry_after_ms=retry_after_ms,
                            origin=origin, trace_id=trace_id, reached_provider=reached_provider, verdicts=verdicts)
    return err


class Cancelled(OutriggerError):
    """The call was cancelled (by this client, or because the client was closed)."""


class Unknown(OutriggerError):
    pass


class InvalidArgument(OutriggerError):
    """The request is malformed: no messages, an unknown route, a frame too large... Permanent."""


class DeadlineExceeded(OutriggerError):
    """The call's timeout passed (on the daemon, or on the local timer)."""


class NotFound(OutriggerError):
    pass


class AlreadyExists(OutriggerError):
    pass


class PermissionDenied(OutriggerError):
    """A guardrail denied the request or the answer, or the process serving the socket is not
    trusted (origin `client/verify`)."""


class ResourceExhausted(OutriggerError):
    """A limit was hit (streams, queue, rate, budget): back off for `retry_after_ms`."""


class FailedPrecondition(OutriggerError):
    pass


class Aborted(OutriggerError):
    pass


class OutOfRange(OutriggerError):
    pass


class Unimplemented(OutriggerError):
    pass


class Internal(OutriggerError):
    """A plugin failed, or a peer broke the protocol."""


class Unavailable(OutriggerError):
    """The provider or the daemon cannot answer now, or the connection was lost: retry."""


class DataLoss(OutriggerError):
    pass


class Unauthenticated(OutriggerError):
    pass


class HandshakeError(FailedPrecondition):
    """The daemon refused the connection's `Hello` (for example a protocol version mismatch)."""

    supported_major_min: int
    supported_major_max: int

    def __init__(self, status: StatusCode, message: str = "", *, supported_major_min: int = 0,
                 supported_major_max: int = 0, origin: str = "server/handshake") -> None:
        super().__init__(status, message, origin=origin)
        self.supported_major_min = supported_major_min
        self.supported_major_max = supported_major_max


class QueueFull(ResourceExhausted):
    """The client's bounded queue of calls waiting to be sent is full."""


class ClientClosed(Cancelled):
    """The client was closed before the call finished."""


_BY_STATUS: Dict[StatusCode, Type[OutriggerError]] = {
    StatusCode.CANCELLED: Cancelled,
    StatusCode.UNKNOWN: Unknown,
    StatusCode.INVALID_ARGUMENT: InvalidArgument,
    StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    StatusCode.NOT_FOUND: NotFound,
    StatusCode.ALREADY_EXISTS: AlreadyExists,
    StatusCode.PERMISSION_DENIED: PermissionDenied,
    StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    StatusCode.ABORTED: Aborted,
    StatusCode.OUT_OF_RANGE: OutOfRange,
    StatusCode.UNIMPLEMENTED: Unimplemented,
    StatusCode.INTERNAL: Internal,
    StatusCode.UNAVAILABLE: Unavailable,
    StatusCode.DATA_LOSS: DataLoss,
    StatusCode.UNAUTHENTICATED: Unauthenticated,
}


def error_for(status: StatusCode, message: str = "", *, retryable: bool = False, retry_after_ms: int = 0,
              origin: str = "", trace_id: str = "", reached_provider: bool = False,
              verdicts: Tuple[GuardrailVerdict, ...] = ()) -> OutriggerError:
    """The error class for `status`, built with these details."""
    cls = _BY_STATUS.get(StatusCode(status), OutriggerError)
    return cls(status, message, retryable=retryable, retry_after_ms=retry_after_ms, origin=origin,
               trace_id=trace_id, reached_provider=reached_provider, verdicts=verdicts)


def connection_lost(reason: str) -> Unavailable:
    """What a call that was sent on a connection that then dropped fails with."""
    return Unavailable(StatusCode.UNAVAILABLE, "connection lost: " + reason, retryable=True,
                       origin="client/connection")
