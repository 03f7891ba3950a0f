package outrigger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Status is a call's outcome code. The set and the numbers are gRPC's, as on the wire.
type Status int32

// The wire status codes.
const (
	StatusOK                 Status = 0
	StatusCancelled          Status = 1
	StatusUnknown            Status = 2
	StatusInvalidArgument    Status = 3
	StatusDeadlineExceeded   Status = 4
	StatusNotFound           Status = 5
	StatusAlreadyExists      Status = 6
	StatusPermissionDenied   Status = 7
	StatusResourceExhausted  Status = 8
	StatusFailedPrecondition Status = 9
	StatusAborted            Status = 10
	StatusOutOfRange         Status = 11
	StatusUnimplemented      Status = 12
	StatusInternal           Status = 13
	StatusUnavailable        Status = 14
	StatusDataLoss           Status = 15
	StatusUnauthenticated    Status = 16
)

var statusNames = [...]string{
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
	"UNAUTHENTICATED",
}

// String returns the wire name of the status, for example "DEADLINE_EXCEEDED".
func (s Status) String() string {
	if s >= 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("STATUS(%d)", int32(s))
}

// ParseStatus maps a wire name such as "UNAVAILABLE" back to its Status.
func ParseStatus(name string) (Status, bool) {
	for i, n := range statusNames {
		if n == name {
			return Status(i), true
		}
	}
	return StatusUnknown, false
}

// OriginClient is the Origin of errors decided by this SDK rather than by the sidecar:
// local deadlines and cancellation, a full queue, a lost connection.
const OriginClient = "client"

// Error is a call that did not end with StatusOK. Every error a Client method returns for a
// failed call is an *Error; inspect it with errors.As, or compare it with errors.Is against
// the sentinel values below (ErrUnavailable, ErrDeadlineExceeded, ...), which match on Status.
//
// An *Error with StatusDeadlineExceeded also matches context.DeadlineExceeded, and one with
// StatusCancelled matches context.Canceled, so code written against plain contexts keeps working.
type Error struct {
	Status     Status
	Retryable  bool          // the sidecar (or the SDK) says trying again may succeed
	RetryAfter time.Duration // wait at least this long before retrying; 0 when unspecified
	Origin     string        // "stage/instance" that decided the outcome, or OriginClient
	Message    string
	TraceID    string // the sidecar's trace id for the call, when it had one
	// ReachedProvider: the sidecar had started a provider attempt, so the upstream may have
	// acted on the request. Only the sidecar reports it; errors decided by the SDK say false.
	ReachedProvider bool
	// Verdicts are the guardrails' decisions up to the error: a guardrail that denied the
	// call names itself here. Empty on errors the SDK decides.
	Verdicts []GuardrailVerdict

	cause    error // a local cause (context error, I/O error, ErrClientClosed), if any
	sentinel bool
}

// Error formats the status, retry hints, origin and message.
func (e *Error) Error() string {
	var sb strings.Builder
	sb.WriteString("outrigger: ")
	sb.WriteString(e.Status.String())
	if e.Retryable {
		sb.WriteString(" (retryable")
		if e.RetryAfter > 0 {
			sb.WriteString(", retry after ")
			sb.WriteString(e.RetryAfter.String())
		}
		sb.WriteString(")")
	}
	if e.Origin != "" {
		sb.WriteString(" from ")
		sb.WriteString(e.Origin)
	}
	if e.Message != "" {
		sb.WriteString(": ")
		sb.WriteString(e.Message)
	}
	return sb.String()
}

// Unwrap returns the local cause, such as context.Canceled or a socket error, if there is one.
func (e *Error) Unwrap() error { return e.cause }

// Is reports whether target is the sentinel for e's status (see ErrUnavailable and friends),
// or the matching context error.
func (e *Error) Is(target error) bool {
	switch target {
	case context.DeadlineExceeded:
		return e.Status == StatusDeadlineExceeded
	case context.Canceled:
		return e.Status == StatusCancelled
	}
	t, ok := target.(*Error)
	return ok && t.sentinel && t.Status == e.Status
}

func sentinel(s Status) *Error { return &Error{Status: s, sentinel: true} }

// Sentinels for errors.Is. They match any *Error with the same Status.
var (
	ErrCancelled          = sentinel(StatusCancelled)
	ErrUnknown            = sentinel(StatusUnknown)
	ErrInvalidArgument    = sentinel(StatusInvalidArgument)
	ErrDeadlineExceeded   = sentinel(StatusDeadlineExceeded)
	ErrNotFound           = sentinel(StatusNotFound)
	ErrAlreadyExists      = sentinel(StatusAlreadyExists)
	ErrPermissionDenied   = sentinel(StatusPermissionDenied)
	ErrResourceExhausted  = sentinel(StatusResourceExhausted)
	ErrFailedPrecondition = sentinel(StatusFailedPrecondition)
	ErrAborted            = sentinel(StatusAborted)
	ErrOutOfRange         = sentinel(StatusOutOfRange)
	ErrUnimplemented      = sentinel(StatusUnimplemented)
	ErrInternal           = sentinel(StatusInternal)
	ErrUnavailable        = sentinel(StatusUnavailable)
	ErrDataLoss           = sentinel(StatusDataLoss)
	ErrUnauthenticated    = sentinel(StatusUnauthenticated)
)

// ErrClientClosed is the cause (see Error.Unwrap) of calls failed by Client.Close.
var ErrClientClosed = errors.New("outrigger: client closed")

// IsRetryable reports whether err is an *Error the sidecar or the SDK marked retryable.
func IsRetryable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Retryable
}

// StatusOf returns the Status carried by err: StatusOK for nil, StatusUnknown for errors that
// are not an *Error.
func StatusOf(err error) Status {
	if err == nil {
		return StatusOK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return StatusUnknown
}

// clientError builds an error decided locally by the SDK.
func clientError(s Status, retryable bool, cause error, format string, args ...any) *Error {
	return &Error{Status: s, Retryable: retryable, Origin: OriginClient,
		Message: fmt.Sprintf(format, args...), cause: cause}
}

// contextError turns a finished context into the matching *Error.
func contextError(ctx context.Context) *Error {
	cause := context.Cause(ctx)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return clientError(StatusDeadlineExceeded, false, cause, "deadline passed before the sidecar answered")
	}
	return clientError(StatusCancelled, false, cause, "cancelled by the caller: %v", cause)
}

// connectionLost is the error of calls that were written to a connection that then failed.
func connectionLost(cause error) *Error {
	return clientError(StatusUnavailable, true, cause, "connection to the sidecar lost: %v", cause)
}
