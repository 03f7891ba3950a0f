package outrigger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// Client behaviour against the in-process fake sidecar (fakeserver_test.go).

func dialFake(t *testing.T, srv *fakeServer, opts ...Option) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	c, err := Dial(ctx, append([]Option{WithSocketPath(srv.path)}, opts...)...)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitErr returns the next error from errc, failing the test instead of hanging.
func waitErr(t *testing.T, errc <-chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(testWait):
		t.Fatal("the call did not end")
		return nil
	}
}

func user(text string) *Request {
	return &Request{Model: "mock-1", Messages: []Message{UserMessage(text)}}
}

func asError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	return e
}

func TestUnaryCallsUseIncreasingStreamIDs(t *testing.T) {
	srv := newFakeServer(t, ackSpec{})
	c := dialFake(t, srv)
	fc := srv.next(t)
	for i := uint64(1); i <= 3; i++ {
		done := make(chan *Response, 1)
		go func() {
			resp, err := c.Chat(context.Background(), user(fmt.Sprint("q", i)))
			if err != nil {
				t.Error(err)
			}
			done <- resp
		}()
		r := fc.recvType(t, "Request")
		if r.id != i {
			t.Fatalf("request %d went out on stream %d", i, r.id)
		}
		if r.body["timeout_ms"].(uint32) != 0 || r.body["stream"].(bool) {
			t.Errorf("unexpected request %v", r.body)
		}
		fc.send(endOK(r.id, "a"+lastContent(r.body), "m"))
		resp := <-done
		if resp == nil || resp.Content != fmt.Sprint("aq", i) || resp.Model != "m" || resp.Usage.CompletionTokens != 5 {
			t.Fatalf("response %+v", resp)
		}
	}
}

func TestManyConcurrentCallsOnOneConnection(t *testing.T) {
	srv := newFakeServer(t, ackSpec{})
	c := dialFake(t, srv)
	fc := srv.next(t)
	const n = 200
	// Answer in a scrambled order once every request is in.
	go func() {
		var reqs []received
		for len(reqs) < n {
			reqs = append(reqs, fc.recvType(t, "Request"))
			if k := len(reqs); k > 1 && reqs[k-1].id <= reqs[k-2].id {
				t.Errorf("stream %d arrived after stream %d", reqs[k-1].id, reqs[k-2].id)
			}
		}
		rand.New(rand.NewSource(1)).Shuffle(n, func(i, j int) { reqs[i], reqs[j] = reqs[j], reqs[i] })
		for _, r := range reqs {
			fc.send(endOK(r.id, lastContent(r.body), "m"))
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := fmt.Sprint("call-", i)
			resp, err := c.Chat(context.Background(), user(want))
			if err == nil && resp.Content != want {
				err = fmt.Errorf("call %d got %q", i, resp.Content)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	select {
	case <-srv.accepted:
		t.Error("the client opened a second connection")
	default:
	}
}

func TestStreamDeliversChunksThenEOF(t *testing.T) {
	srv := newFakeServer(t, ackSpec{})
	c := dialFake(t, srv)
	fc := srv.next(t)
	st, err := c.ChatStream(context.Background(), user("hi"))
	if err != nil {
		t.Fatal(err)
	}
	r := fc.recvType(t, "Request")
	if !r.body["stream"].(bool) {
		t.Fatal("stream flag not set")
	}
	fc.send(startFrame(r.id, "m1", "mock", "tr-9"),
		chunkFrame(r.id, 0, "Hel", ToolCallDelta{Index: 0, ID: "c1", Name: "f", Arguments: `{"a":`}),
		chunkFrame(r.id, 1, "lo", ToolCallDelta{Index: 0, Arguments: `1}`}),
		endFrame(r.id, endSpec{origin: "provider/mock"}))
	var deltas []string
	for {
		ch, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		deltas = append(deltas, ch.Delta)
	}
	if strings.Join(deltas, "|") != "Hel|lo" {
		t.Fatalf("deltas %q", deltas)
	}
	resp := st.Response()
	if resp.Content != "Hello" || resp.Provider != "mock" || resp.Model != "m1" || resp.TraceID != "tr-9" {
		t.Fatalf("response %+v", resp)
	}
	if len(resp.ToolCalls) != 1 || resp.ToolCalls[0] != (ToolCall{ID: "c1", Name: "f", Arguments: `{"a":1}`}) {
		t.Fatalf("tool calls %+v", resp.ToolCalls)
	}
	if st.Start() == nil || st.Start().Provider != "mock" {
		t.Errorf("start %+v", st.Start())
	}
}

func TestStreamSurfacesRefusalAndUpstreamMeta(t *testing.T) {
	srv := newFakeServer(t, ackSpec{})
	c := dialFake(t, srv)
	fc := srv.next(t)
	st, err := c.ChatStream(context.Background(), user("hi"))
	if err != nil {
		t.Fatal(err)
	}
	r := fc.recvType(t, "Request")
	fc.send(startFrameMeta(r.id, "m1", "mock", "tr-1", "fp_start", "flex"),
		chunkFrame(r.id, 0, "Sure, "),
		refusalChunkFrame(r.id, 1, "I can't help with that."),
		endFrame(r.id, endSpec{origin: "provider/mock", finishReason: "content_filter", refusal: true,
			systemFingerprint: "fp_end", serviceTier: "default"}))
	var refusals []bool
	for {
		ch, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		refusals = append(refusals, ch.Refusal)
	}
	if len(refusals) != 2 || refusals[0] || !refusals[1] {
		t.Fatalf("chunk refusal flags %v, want [false true]", refusals)
	}
	if s := st.Start(); s == nil || s.SystemFingerprint != "fp_start" || s.ServiceTier != "flex" {
		t.Fatalf("start %+v", s)
	}
	resp := st.Response()
	if !resp.Refusal || resp.FinishReason != "content_filter" || resp.Content != "Sure, I can't help with that." {
		t.Fatalf("response %+v", resp)
	}
	// The end's values win over the start's.
	if resp.SystemFingerprint != "fp_end" || resp.ServiceTier != "default" {
		t.Fatalf("response fingerprint %q tier %q", resp.SystemFingerprint, resp.ServiceTier)
	}
}

func TestStreamResponseTakesUpstreamMetaFromStart(t *testing.T) {
	srv := newFakeServer(t, ackSpec{})
	c := dialFake(t, srv)
	fc := srv.next(t)
	st, err := c.ChatStream(context.Background(), user("hi"))
	if err != nil {
		t.Fatal(err)
	}
	r := fc.recvType(t, "Request")
	fc.send(startFrameMeta(r.id, "m1", "mock", "tr-1", "fp_start", "flex"), chunkFrame(r.id, 0, "ok"),
		endFrame(r.id, endSpec{origin: "provider/mock"}))
	for {
		if _, err := st.Recv(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	resp := st.Response()
	if resp.Refusal || resp.SystemFingerprint != "fp_start" || resp.ServiceTier != "flex" {
		t.Fatalf("response %+v", resp)
	}
}

func TestUnarySurfacesRefusalAndUpstreamMeta(t *testing.T) {
	srv := newFakeServer(t, ackSpec{})
	c := dialFake(t, srv)
	fc := srv.next(t)
	go func() {
		r := fc.recvType(t, "Request")
		fc.send(endFrame(r.id, endSpec{content: "I can't help with that.", origin: "provider/mock",
			finishReason: "content_filter", refusal: true, systemFingerprint: "fp_44709d6fcb",
			serviceTier: "priority"}))
		r = fc.recvType(t, "Request")
		fc.send(endOK(r.id, "fine", "m"))
	}()
	resp, err := c.Chat(context.Background(), user("x"))
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Refusal || resp.Content != "I can't help with that." || resp.FinishReason != "content_filter" ||
		resp.SystemFingerprint != "fp_44709d6fcb" || resp.ServiceTier != "priority" {
		t.Fatalf("response %+v", resp)
	}
	resp, err = c.Chat(context.Background(), user("y"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Refusal || resp.SystemFingerprint != "" || resp.ServiceTier != "" {
		t.Fatalf("plain answer %+v", resp)
	}
}

func TestCutStreamReturnsChunksThenError(t *testing.T) {
	srv := newFakeServer(t, ackSpec{})
	c := dialFake(t, srv)
	fc := srv.next(t)
	st, _ := c.ChatStream(context.Background(), user("hi"))
	r := fc.recvType(t, "Request")
	fc.send(startFrame(r.id, "m", "mock", "t"), chunkFrame(r.id, 0, "par"),
		endFrame(r.id, endSpec{status: StatusUnavailable, retryable: true, origin: "provider/mock", message: "cut"}))
	ch, err := st.Recv()
	if err != nil || ch.Delta != "par" {
		t.Fatalf("first Recv: %v %v", ch, err)
	}
	_, err = st.Recv()
	if !errors.Is(err, ErrUnavailable) || !IsRetryable(err) || asError(t, err).Origin != "provider/mock" {
		t.Fatalf("got %v, want the cut as a retryable UNAVAILABLE", err)
	}
	if st.Response() != nil {
		t.Error("a failed stream has a Response")
	}
}

func TestErrorMapping(t *testing.T) {
	srv := newFakeServer(t, ackSpec{})
	c := dialFake(t, srv)
	fc := srv.next(t)
	go func() {
		r := fc.recvType(t, "Request")
		fc.send(endFrame(r.id, endSpec{status: StatusResourceExhausted, retryable: true, retryAfterMs: 1500,
			origin: "ratelimit/tenant", message: "budget spent", traceID: "tr-x"}))
	}()
	_, err := c.Chat(context.Background(), user("x"))
	e := asError(t, err)
	want := Error{Status: StatusResourceExhausted, Retryable: true, RetryAfter: 1500 * time.Millisecond,
		Origin: "ratelimit/tenant", Message: "budget spent", TraceID: "tr-x"}
	if !reflect.DeepEqual(*e, want) {
		t.Fatalf("got %+v, want %+v", *e, want)
	}
	if !errors.Is(err, ErrResourceExhausted) || errors.Is(err, ErrUnavailable) {
		t.Error("errors.Is does not follow the status")
	}
}

// A guardrail's denial names itself in the error's verdicts, as on an answer.
func TestErrorCarriesTheVerdicts(t *testing.T) {
	srv := newFakeServer(t, ackSpec{})
	c := dialFake(t, srv)
	fc := srv.next(t)
	verdicts := []GuardrailVerdict{{Guardrail: "input_rules", Verdict: VerdictPass},
		{Guardrail: "pii", Verdict: VerdictDeny, Reason: "an email address"}}
	go func() {
		r := fc.recvType(t, "Request")
		fc.send(endFrame(r.id, endSpec{status: StatusPermissionDenied, origin: "guardrail/pii",
			message: "denied", traceID: "tr-d", verdicts: verdicts}))
	}()
	_, err := c.Chat(context.Background(), user("x"))
	e := asError(t, err)
	if !reflect.DeepEqual(e.Verdicts, verdicts) || e.TraceID != "tr-d" {
		t.Fatalf("got verdicts %+v, trace id %q", e.Verdicts, e.TraceID)
	}
}

func TestContextDeadlineIsSentAndEnforcedLocally(t *testing.T) {
	srv := newFakeServer(t, ackSpec{})
	c := dialFake(t, srv)
	fc := srv.next(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	errc := make(chan error, 1)
	go func() { _, err := c.Chat(ctx, user("hang")); errc <- err }()
	r := fc.recvType(t, "Request")
	if ms := r.body["timeout_ms"].(uint32); ms == 0 || ms > 300 {
		t.Errorf("timeout_ms %d, want within (0, 300]", ms)
	}
	err := waitErr(t, errc) // the fake never answers: the local deadline must end the call
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("call took %v", elapsed)
	}
	if !errors.Is(err, ErrDeadlineExceeded) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want DEADLINE_EXCEEDED", err)
	}
	if cn := fc.recvType(t, "Cancel"); cn.id != r.id {
		t.Errorf("Cancel on stream %d, want %d", cn.id, r.id)
	}
}

func TestRequestTimeoutHasLocalBackstop(t *testing.T) {
	srv := newFakeServer(t, ackSpec{})
	c := dialFake(t, srv, WithDeadlineGrace(50*time.Millisecond))
	fc := srv.next(t)
	req := user("hang")
	req.Timeout = 150 * time.Millisecond
	errc := make(chan error, 1)
	go func() { _, err := c.Chat(context.Background(), req); errc <- err }()
	r := fc.recvType(t, "Request")
	if ms := r.body["timeout_ms"].(uint32); ms == 0 || ms > 150 {
		t.Errorf("timeout_ms %d, want within (0, 150]", ms)
	}
	if err := waitErr(t, errc); !errors.Is(err, ErrDeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
}

func TestCancelMidStreamSendsCancel(t *testing.T) {
	srv := newFakeServer(t, ackSpec{})
	c := dialFake(t, srv)
	fc := srv.next(t)
	ctx, cancel := context.WithCancel(context.Background())
	st, _ := c.ChatStream(ctx, user("long"))
	r := fc.recvType(t, "Request")
	fc.send(startFrame(r.id, "m", "mock", "t"), chunkFrame(r.id, 0, "one"))
	if ch, err := st.Recv(); err != nil || ch.Delta != "one" {
		t.Fatalf("Recv: %v %v", ch, err)
	}
	cancel()
	_, err := st.Recv()
	if !errors.Is(err, ErrCancelled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want CANCELLED", err)
	}
	cn := fc.recvType(t, "Cancel")
	if cn.id != r.id {
		t.Fatalf("Cancel on stream %d, want %d", cn.id, r.id)
	}
	// The sidecar's own CANCELLED end arrives later and is ignored; the connection still works.
	fc.send(endFrame(r.id, endSpec{status: StatusCancelled}))
	go func() { r := fc.recvType(t, "Request"); fc.send(endOK(r.id, "ok", "m")) }()
	if resp, err := c.Chat(context.Background(), user("next")); err != nil || resp.Content != "ok" {
		t.Fatalf("next call: %v %v", resp, err)
	}
}

func TestStreamCloseCancels(t *testing.T) {
	srv := newFakeServer(t, ackSpec{})
	c := dialFake(t, srv)
	fc := srv.next(t)
	st, _ := c.ChatStream(context.Background(), user("x"))
	r := fc.recvType(t, "Request")
	st.Close()
	if cn := fc.recvType(t, "Cancel"); cn.id != r.id {
		t.Fatalf("Cancel on %d, want %d", cn.id, r.id)
	}
	if _, err := st.Recv(); !errors.Is(err, ErrCancelled) {
		t.Fatalf("Recv after Close: %v", err)
	}
	st.Close() // idempotent
}

func TestMetadataMerge(t *testing.T) {
	srv := newFakeServer(t, ackSpec{})
	c := dialFake(t, srv, WithMetadata(Metadata{Tenant: "acme", User: "default-user",
		Tags: map[string]string{"env": "prod", "team": "core"}}))
	fc := srv.next(t)
	req := user("x")
	req.Metadata = Metadata{User: "u-7", RequestID: "r-1", Tags: map[string]string{"team": "billing"}}
	go c.Chat(context.Background(), req)
	r := fc.recvType(t, "Request")
	want := map[string]any{"tenant": "acme", "user": "u-7", "request_id": "r-1", "tags": []any{
		map[string]any{"key": "env", "value": "prod"}, map[string]any{"key": "team", "value": "billing"}}}
	assertSameJSON(t, "metadata", r.body["metadata"], want)
	fc.send(endOK(r.id, "", ""))
}

func TestFeedback(t *testing.T) {
	srv := newFakeServer(t, ackSpec{})
	c := dialFake(t, srv, WithMetadata(Metadata{Tenant: "acme"}))
	fc := srv.next(t)
	errc := make(chan error, 1)
	go func() { errc <- c.Feedback(context.Background(), "trace-1", 0.5, "good") }()
	r := fc.recvType(t, "Feedback")
	assertSameJSON(t, "feedback", r.body, map[string]any{"trace_id": "trace-1", "score": 0.5,
		"comment": "good", "metadata": map[string]any{"tenant": "acme"}})
	fc.send(endFrame(r.id, endSpec{}))
	if err := waitErr(t, errc); err != nil {
		t.Fatal(err)
	}
	go func() { errc <- c.Feedback(context.Background(), "nope", 1, "") }()
	r = fc.recvType(t, "Feedback")
	fc.send(endFrame(r.id, endSpec{status: StatusNotFound, message: "unknown trace"}))
	if err := waitErr(t, errc); !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v, want NOT_FOUND", err)
	}
}

func TestCloseFailsCallsInFlight(t *testing.T) {
	srv := newFakeServer(t, ackSpec{})
	c := dialFake(t, srv)
	fc := srv.next(t)
	errc := make(chan error, 1)
	go func() { _, err := c.Chat(context.Background(), user("x")); errc <- err }()
	fc.recvType(t, "Request")
	c.Close()
	if err := waitErr(t, errc); !errors.Is(err, ErrClientClosed) {
		t.Fatalf("in flight: %v", err)
	}
	if _, err := c.Chat(context.Background(), user("y")); !errors.Is(err, ErrClientClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// The sidecar refuses a Request whose stream id is not above every id it has seen on the
// connection, so ids only grow, whatever happens to the calls in between.
func TestStreamIDsIncreaseAndAreNeverReused(t *testing.T) {
	srv := newFakeServer(t, ackSpec{maxFrame: 2048})
	c := dialFake(t, srv)
	fc := srv.next(t)
	ids := make(chan uint64, 16)
	go func() {
		for {
			select {
			case r := <-fc.in:
				switch r.typ {
				case "Request":
					ids <- r.id
					if lastContent(r.body) != "never answered" {
						fc.send(endOK(r.id, lastContent(r.body), "m"))
					}
				case "Feedback":
					ids <- r.id
					fc.send(endFrame(r.id, endSpec{}))
				case "Cancel":
					fc.send(endFrame(r.id, endSpec{status: StatusCancelled}))
				}
			case <-fc.gone:
				return
			}
		}
	}()
	ctx := context.Background()
	if _, err := c.Chat(ctx, user("one")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Chat(ctx, user(strings.Repeat("x", 4096))); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("oversized request: got %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err := c.Chat(short, user("never answered"))
	cancel()
	if !errors.Is(err, ErrDeadlineExceeded) {
		t.Fatalf("unanswered request: got %v", err)
	}
	if err := c.Feedback(ctx, "trace-1", 1, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Chat(ctx, user("last")); err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for len(got) < 4 {
		select {
		case id := <-ids:
			got = append(got, id)
		case <-time.After(testWait):
			t.Fatalf("only saw streams %v", got)
		}
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("stream ids %v do not strictly increase", got)
		}
	}
	if got[0] != 1 {
		t.Errorf("first stream id %d, want 1", got[0])
	}
}

func TestReachedProviderOnAnswersAndErrors(t *testing.T) {
	srv := newFakeServer(t, ackSpec{})
	c := dialFake(t, srv)
	fc := srv.next(t)
	answer := func(e endSpec) (*Response, error) {
		type result struct {
			resp *Response
			err  error
		}
		done := make(chan result, 1)
		go func() { r, err := c.Chat(context.Background(), user("q")); done <- result{r, err} }()
		fc.send(endFrame(fc.recvType(t, "Request").id, e))
		r := <-done
		return r.resp, r.err
	}
	if resp, err := answer(endSpec{content: "a", reachedProvider: true}); err != nil || !resp.ReachedProvider {
		t.Errorf("answer from the provider: %+v %v", resp, err)
	}
	if resp, err := answer(endSpec{content: "a"}); err != nil || resp.ReachedProvider {
		t.Errorf("answer without a provider attempt: %+v %v", resp, err)
	}
	if _, err := answer(endSpec{status: StatusInternal, reachedProvider: true}); !asError(t, err).ReachedProvider {
		t.Errorf("error after a provider attempt: %v has ReachedProvider false", err)
	}
}
