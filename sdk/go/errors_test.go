package outrigger

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestErrorsIsFollowsStatus(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", &Error{Status: StatusUnavailable, Retryable: true})
	if !errors.Is(err, ErrUnavailable) {
		t.Error("not ErrUnavailable")
	}
	if errors.Is(err, ErrInternal) || errors.Is(err, context.Canceled) {
		t.Error("matches a different status")
	}
	if !IsRetryable(err) || StatusOf(err) != StatusUnavailable {
		t.Error("retryable/status lost through wrapping")
	}
	// A real error is never equal to a sentinel the other way round.
	if errors.Is(ErrUnavailable, &Error{Status: StatusUnavailable}) {
		t.Error("sentinel matched a non-sentinel target")
	}
}

func TestErrorsMatchContextErrors(t *testing.T) {
	if !errors.Is(&Error{Status: StatusDeadlineExceeded, Origin: "provider/mock"}, context.DeadlineExceeded) {
		t.Error("DEADLINE_EXCEEDED does not match context.DeadlineExceeded")
	}
	if !errors.Is(&Error{Status: StatusCancelled}, context.Canceled) {
		t.Error("CANCELLED does not match context.Canceled")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e := contextError(ctx)
	if e.Status != StatusCancelled || e.Origin != OriginClient || !errors.Is(e, context.Canceled) {
		t.Errorf("contextError: %+v", e)
	}
	ctx, cancel = context.WithTimeout(context.Background(), -time.Second)
	defer cancel()
	if e := contextError(ctx); e.Status != StatusDeadlineExceeded {
		t.Errorf("contextError: %+v", e)
	}
}

func TestErrorMessage(t *testing.T) {
	e := &Error{Status: StatusResourceExhausted, Retryable: true, RetryAfter: 1500 * time.Millisecond,
		Origin: "ratelimit/tenant", Message: "budget spent"}
	want := "outrigger: RESOURCE_EXHAUSTED (retryable, retry after 1.5s) from ratelimit/tenant: budget spent"
	if e.Error() != want {
		t.Errorf("got %q\nwant %q", e.Error(), want)
	}
	if StatusOf(nil) != StatusOK || StatusOf(errors.New("x")) != StatusUnknown {
		t.Error("StatusOf")
	}
}

func TestStatusNames(t *testing.T) {
	for s := StatusOK; s <= StatusUnauthenticated; s++ {
		back, ok := ParseStatus(s.String())
		if !ok || back != s {
			t.Errorf("%d -> %q -> %d", s, s.String(), back)
		}
	}
	if StatusDeadlineExceeded.String() != "DEADLINE_EXCEEDED" || Status(99).String() != "STATUS(99)" {
		t.Error("names")
	}
}

func TestDurationMs(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want uint32
	}{{0, 0}, {-time.Second, 0}, {time.Microsecond, 1}, {time.Millisecond, 1},
		{1500 * time.Microsecond, 2}, {30 * time.Second, 30000}, {100 * 24 * 365 * time.Hour, 1<<32 - 1}} {
		if got := durationMs(c.d); got != c.want {
			t.Errorf("durationMs(%v) = %d, want %d", c.d, got, c.want)
		}
	}
}

func TestMetadataMergeRules(t *testing.T) {
	base := Metadata{Tenant: "acme", User: "svc", Tags: map[string]string{"a": "1", "b": "2"}}
	got := base.merge(Metadata{User: "u", Tags: map[string]string{"b": "3"}})
	if got.Tenant != "acme" || got.User != "u" || got.Tags["a"] != "1" || got.Tags["b"] != "3" {
		t.Errorf("merge: %+v", got)
	}
	if base.Tags["b"] != "2" {
		t.Error("merge changed the client's defaults")
	}
}
