package outrigger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outrigger-dev/outrigger/sdk/go/internal/wiredesc"
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

func TestHandshakeAnnouncesTheSDK(t *testing.T) {
	srv := newFakeServer(t, ackSpec{})
	dialFake(t, srv, WithClientName("svc", "1.2.3"), WithMaxFrameSize(1<<20))
	h := srv.next(t).hello
	want := wiredesc.Object{"proto_major": uint16(1), "proto_minor": uint16(0), "client_name": "svc",
		"client_version": "1.2.3", "sdk_language": "go", "max_frame_size": uint32(1 << 20), "features": uint64(15)}
	assertSameJSON(t, "Hello", h, want)
}

func TestHandshakeRefusedFailsClearly(t *testing.T) {
	srv := newFakeServer(t, ackSpec{refuse: true})
	_, err := Dial(context.Background(), WithSocketPath(srv.path))
	e := asError(t, err)
	if !errors.Is(err, ErrFailedPrecondition) || e.Retryable {
		t.Fatalf("got %v, want a non-retryable FAILED_PRECONDITION", err)
	}
	if !strings.Contains(e.Message, "refused the handshake") || !strings.Contains(e.Message, "2..3") {
		t.Errorf("message %q does not explain the refusal", e.Message)
	}
}

func TestDialWithoutSidecarIsUnavailable(t *testing.T) {
	_, err := Dial(context.Background(), WithSocketPath(shortSocketPath(t)))
	if !errors.Is(err, ErrUnavailable) || !IsRetryable(err) {
		t.Fatalf("got %v, want a retryable UNAVAILABLE", err)
	}
}

func TestSocketPathResolution(t *testing.T) {
	t.Setenv(SocketEnv, "/run/from-env.sock")
	c, _ := New()
	if c.SocketPath() != "/run/from-env.sock" {
		t.Errorf("env: got %q", c.SocketPath())
	}
	c, _ = New(WithSocketPath("/run/explicit.sock"))
	if c.SocketPath() != "/run/explicit.sock" {
		t.Errorf("option: got %q", c.SocketPath())
	}
	t.Setenv(SocketEnv, "")
	c, _ = New()
	if c.SocketPath() != DefaultSocketPath {
		t.Errorf("default: got %q", c.SocketPath())
	}
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
	if *e != want {
		t.Fatalf("got %+v, want %+v", *e, want)
	}
	if !errors.Is(err, ErrResourceExhausted) || errors.Is(err, ErrUnavailable) {
		t.Error("errors.Is does not follow the status")
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

func TestGoAwayResendsCallsTheServerDidNotTake(t *testing.T) {
	srv := newFakeServer(t, ackSpec{})
	c := dialFake(t, srv)
	old := srv.next(t)
	results := make(chan string, 3)
	for _, q := range []string{"a", "b", "c"} {
		go func() {
			resp, err := c.Chat(context.Background(), user(q))
			if err != nil {
				results <- "error: " + err.Error()
				return
			}
			results <- resp.Content
		}()
	}
	seen := map[string]uint64{}
	for len(seen) < 3 {
		r := old.recvType(t, "Request")
		seen[lastContent(r.body)] = r.id
	}
	// The server took stream 1 only; 2 and 3 get the UNAVAILABLE a draining server sends.
	old.send(goAwayFrame(1))
	old.send(endFrame(2, endSpec{status: StatusUnavailable, retryable: true, message: "draining"}),
		endFrame(3, endSpec{status: StatusUnavailable, retryable: true, message: "draining"}))
	fresh := srv.next(t)
	fresh.serveEcho()
	var first string
	for q, id := range seen {
		if id == 1 {
			first = q
		}
	}
	old.send(endOK(1, first, "m"))
	got := map[string]bool{}
	for i := 0; i < 3; i++ {
		select {
		case r := <-results:
			got[r] = true
		case <-time.After(testWait):
			t.Fatal("calls did not finish after GoAway")
		}
	}
	if !got["a"] || !got["b"] || !got["c"] {
		t.Fatalf("results %v, want a, b and c answered", got)
	}
	// New calls go to the new connection.
	if resp, err := c.Chat(context.Background(), user("d")); err != nil || resp.Content != "d" {
		t.Fatalf("after GoAway: %v %v", resp, err)
	}
}

func TestDroppedConnectionFailsSentCallsAndReconnects(t *testing.T) {
	srv := newFakeServer(t, ackSpec{})
	c := dialFake(t, srv)
	fc := srv.next(t)
	errc := make(chan error, 1)
	go func() { _, err := c.Chat(context.Background(), user("x")); errc <- err }()
	fc.recvType(t, "Request")
	fc.nc.Close()
	err := waitErr(t, errc)
	if !errors.Is(err, ErrUnavailable) || !IsRetryable(err) || asError(t, err).Origin != OriginClient {
		t.Fatalf("got %v, want a retryable UNAVAILABLE from the client", err)
	}
	go func() { srv.next(t).serveEcho() }()
	if resp, err := c.Chat(context.Background(), user("again")); err != nil || resp.Content != "again" {
		t.Fatalf("after reconnect: %v %v", resp, err)
	}
}

func TestQueuedCallsWaitForTheSidecar(t *testing.T) {
	srv := newFakeServer(t, ackSpec{})
	srv.stopListening()
	c, err := New(WithSocketPath(srv.path))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	errc := make(chan error, 1)
	go func() {
		resp, err := c.Chat(context.Background(), user("early"))
		if err == nil && resp.Content != "early" {
			err = fmt.Errorf("got %q", resp.Content)
		}
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond) // let a few connection attempts fail
	srv.listen()
	srv.next(t).serveEcho()
	if err := waitErr(t, errc); err != nil {
		t.Fatal(err)
	}
}

func TestConnectWaitBoundsQueuedCalls(t *testing.T) {
	c, _ := New(WithSocketPath(shortSocketPath(t)), WithConnectWait(100*time.Millisecond))
	defer c.Close()
	start := time.Now()
	_, err := c.Chat(context.Background(), user("x"))
	if !errors.Is(err, ErrUnavailable) || !IsRetryable(err) {
		t.Fatalf("got %v", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("waited %v", time.Since(start))
	}
}

func TestQueueIsBounded(t *testing.T) {
	c, _ := New(WithSocketPath(shortSocketPath(t)), WithQueueSize(2), WithConnectWait(time.Minute))
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); c.Chat(ctx, user("wait")) }()
	}
	deadline := time.Now().Add(testWait)
	for {
		c.mu.Lock()
		n := c.queue.Len()
		c.mu.Unlock()
		if n == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	_, err := c.Chat(context.Background(), user("one too many"))
	if !errors.Is(err, ErrResourceExhausted) || asError(t, err).Origin != OriginClient {
		t.Fatalf("got %v, want RESOURCE_EXHAUSTED from the client", err)
	}
	cancel()
	wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.queue.Len() != 0 {
		t.Errorf("cancelled calls left %d entries in the queue", c.queue.Len())
	}
}

func TestOversizedIncomingFrameDropsTheConnection(t *testing.T) {
	srv := newFakeServer(t, ackSpec{maxFrame: 2048})
	c := dialFake(t, srv)
	fc := srv.next(t)
	errc := make(chan error, 1)
	go func() { _, err := c.Chat(context.Background(), user("x")); errc <- err }()
	fc.recvType(t, "Request")
	var prefix [4]byte
	binary.LittleEndian.PutUint32(prefix[:], 4096) // over the negotiated 2048; no body follows
	fc.send(prefix[:])
	err := waitErr(t, errc)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "exceeds the negotiated max_frame_size 2048") {
		t.Fatalf("got %v", err)
	}
	select {
	case <-fc.gone:
	case <-time.After(testWait):
		t.Fatal("the client kept the connection open")
	}
}

func TestOversizedRequestFailsLocally(t *testing.T) {
	srv := newFakeServer(t, ackSpec{maxFrame: 2048})
	c := dialFake(t, srv)
	fc := srv.next(t)
	fc.serveEcho()
	_, err := c.Chat(context.Background(), user(strings.Repeat("x", 4096)))
	if !errors.Is(err, ErrInvalidArgument) || IsRetryable(err) {
		t.Fatalf("got %v, want INVALID_ARGUMENT", err)
	}
	if resp, err := c.Chat(context.Background(), user("small")); err != nil || resp.Content != "small" {
		t.Fatalf("connection unusable afterwards: %v %v", resp, err)
	}
}

func TestMaxConcurrentStreamsIsRespected(t *testing.T) {
	srv := newFakeServer(t, ackSpec{maxStreams: 2})
	c := dialFake(t, srv)
	fc := srv.next(t)
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); c.Chat(context.Background(), user(fmt.Sprint(i))) }()
	}
	open, next := 0, uint64(1)
	for next <= 5 {
		for want := min(2, int(5-next+1)); open < want; open++ {
			fc.recvType(t, "Request")
		}
		// While the limit is reached, no further request may arrive.
		select {
		case r := <-fc.in:
			if r.typ == "Request" {
				t.Fatalf("stream %d opened while %d streams were open (limit 2)", r.id, open)
			}
		case <-time.After(30 * time.Millisecond):
		}
		fc.send(endOK(next, "", "m"))
		next++
		open--
	}
	wg.Wait()
}

func TestServerPingIsAnswered(t *testing.T) {
	srv := newFakeServer(t, ackSpec{})
	dialFake(t, srv)
	fc := srv.next(t)
	fc.send(pingFrame(1 << 40))
	p := fc.recvType(t, "Pong")
	if p.id != 0 || p.body["opaque"].(uint64) != 1<<40 {
		t.Fatalf("pong %+v", p)
	}
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

func TestMalformedFrameDropsTheConnection(t *testing.T) {
	srv := newFakeServer(t, ackSpec{})
	c := dialFake(t, srv)
	fc := srv.next(t)
	errc := make(chan error, 1)
	go func() { _, err := c.Chat(context.Background(), user("x")); errc <- err }()
	fc.recvType(t, "Request")
	bad := make([]byte, 4+16)
	binary.LittleEndian.PutUint32(bad, 16)
	binary.LittleEndian.PutUint32(bad[4:], 0xfffffff0) // root offset far outside the buffer
	copy(bad[8:], "ORG1")
	fc.send(bad)
	if err := waitErr(t, errc); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "malformed") {
		t.Fatalf("got %v", err)
	}
}
