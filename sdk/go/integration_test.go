package outrigger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Integration tests against the real daemon, started as a subprocess on a temp socket with its
// embedded default config (one route whose provider is the mock). They skip when OUTRIGGER_BIN
// does not name the daemon binary.

type daemon struct {
	sock string
	cmd  *exec.Cmd
	out  *lockedBuffer
	// exited is closed when the process has exited; waitErr is its exit error.
	exited  chan struct{}
	waitErr error
	// signalled: SIGTERM was sent (once only: the daemon may treat a second one as "now")
	signalled bool
	// killed: the test sent SIGKILL on purpose, so the exit it causes is no failure
	killed bool
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func daemonBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("OUTRIGGER_BIN")
	if bin == "" {
		t.Skip("OUTRIGGER_BIN is unset (path of the outrigger daemon binary): skipping the integration test")
	}
	return bin
}

// startDaemon runs `outrigger serve --socket sock` and waits until the socket accepts.
func startDaemon(t *testing.T, sock string) *daemon {
	t.Helper()
	bin := daemonBinary(t)
	d := &daemon{sock: sock, out: &lockedBuffer{}, exited: make(chan struct{})}
	d.cmd = exec.Command(bin, "serve", "--socket", sock)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() { d.waitErr = d.cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		if err := d.stop(); err != nil {
			t.Errorf("daemon did not exit cleanly after SIGTERM: %v", err)
		}
		if t.Failed() {
			t.Logf("daemon output:\n%s", d.out.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if nc, err := net.Dial("unix", sock); err == nil {
			nc.Close()
			return d
		}
		select {
		case <-d.exited:
			t.Fatalf("daemon exited before serving: %v\n%s", d.waitErr, d.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon did not accept on %s within 10 s\n%s", sock, d.out.String())
		}
	}
}

// kill sends SIGKILL, as a crash would, and waits for the exit.
func (d *daemon) kill(t *testing.T) {
	t.Helper()
	d.killed = true
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL: %v", err)
	}
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the daemon outlived SIGKILL by 10 s")
	}
}

// stop sends SIGTERM and waits for the exit; it returns the exit error (nil for status 0, or
// after kill).
func (d *daemon) stop() error {
	select {
	case <-d.exited:
		if d.killed {
			return nil
		}
		return d.waitErr
	default:
	}
	if !d.signalled {
		d.signalled = true
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-d.exited:
		return d.waitErr
	case <-time.After(15 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
		return fmt.Errorf("daemon ignored SIGTERM for 15 s (killed): %v", d.waitErr)
	}
}

func daemonClient(t *testing.T, sock string, opts ...Option) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, append([]Option{WithSocketPath(sock)}, opts...)...)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// mockRequest asks the mock provider for a behaviour (see the mock's "mock" keys).
func mockRequest(text string, mock map[string]any) *Request {
	r := user(text)
	if mock != nil {
		b, _ := json.Marshal(map[string]any{"mock": mock})
		r.Params = &Params{ExtraJSON: string(b)}
	}
	return r
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestDaemonUnary(t *testing.T) {
	d := startDaemon(t, shortSocketPath(t))
	c := daemonClient(t, d.sock)
	resp, err := c.Chat(callCtx(t), user("hello from go"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Content != "hello from go" || resp.FinishReason != "stop" {
		t.Errorf("content %q finish %q", resp.Content, resp.FinishReason)
	}
	if resp.Usage.PromptTokens == 0 || resp.Usage.CompletionTokens == 0 {
		t.Errorf("usage %+v", resp.Usage)
	}
	if resp.TraceID == "" {
		t.Error("no trace id")
	}
}

func TestDaemonStreaming(t *testing.T) {
	d := startDaemon(t, shortSocketPath(t))
	c := daemonClient(t, d.sock)
	text := "one two three four five six seven"
	st, err := c.ChatStream(callCtx(t), mockRequest(text, map[string]any{"chunks": 5}))
	if err != nil {
		t.Fatal(err)
	}
	var deltas []string
	for {
		ch, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Recv after %d chunks: %v", len(deltas), err)
		}
		deltas = append(deltas, ch.Delta)
	}
	if len(deltas) != 5 || strings.Join(deltas, "") != text {
		t.Fatalf("chunks %q", deltas)
	}
	resp := st.Response()
	if resp.Content != text || resp.FinishReason != "stop" || resp.Usage.CompletionTokens == 0 {
		t.Errorf("response %+v", resp)
	}
	if s := st.Start(); s == nil || s.Provider == "" {
		t.Errorf("stream start %+v", s)
	}
}

func TestDaemon200ConcurrentCalls(t *testing.T) {
	d := startDaemon(t, shortSocketPath(t))
	c := daemonClient(t, d.sock)
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := fmt.Sprintf("call number %d", i)
			resp, err := c.Chat(callCtx(t), user(want))
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
	failed := 0
	for err := range errs {
		if failed++; failed <= 5 {
			t.Error(err)
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d concurrent calls failed", failed, n)
	}
}

func TestDaemonCancelMidStream(t *testing.T) {
	d := startDaemon(t, shortSocketPath(t))
	c := daemonClient(t, d.sock)
	ctx, cancel := context.WithCancel(callCtx(t))
	st, err := c.ChatStream(ctx, mockRequest("a b c d e f g h i j k l m n o p q r s t",
		map[string]any{"chunks": 20, "chunk_interval_ms": 250}))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := st.Recv(); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
	}
	cancel()
	start := time.Now()
	_, err = st.Recv()
	if !errors.Is(err, ErrCancelled) {
		t.Fatalf("got %v, want CANCELLED", err)
	}
	if time.Since(start) > time.Second {
		t.Errorf("cancel took %v", time.Since(start))
	}
	// The stream stays registered until the daemon ends it; the Cancel frame must make it do
	// so long before the 5 s the remaining chunks would take.
	for openStreams(c) != 0 {
		if time.Since(start) > 2*time.Second {
			t.Fatal("the daemon did not end the cancelled stream")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The connection keeps serving.
	if resp, err := c.Chat(callCtx(t), user("still here")); err != nil || resp.Content != "still here" {
		t.Fatalf("after cancel: %v %v", resp, err)
	}
}

func TestDaemonContextDeadline(t *testing.T) {
	d := startDaemon(t, shortSocketPath(t))
	c := daemonClient(t, d.sock)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Chat(ctx, mockRequest("x", map[string]any{"hang": true}))
	if !errors.Is(err, ErrDeadlineExceeded) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want DEADLINE_EXCEEDED", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("deadline of 300 ms took %v", el)
	}
}

// With a generous local grace the daemon's own deadline (from timeout_ms) must end the call.
func TestDaemonEnforcesRequestTimeout(t *testing.T) {
	d := startDaemon(t, shortSocketPath(t))
	c := daemonClient(t, d.sock, WithDeadlineGrace(5*time.Second))
	req := mockRequest("x", map[string]any{"hang": true})
	req.Timeout = 200 * time.Millisecond
	start := time.Now()
	_, err := c.Chat(context.Background(), req)
	e := asError(t, err)
	if e.Status != StatusDeadlineExceeded || e.Origin == OriginClient {
		t.Fatalf("got %v, want DEADLINE_EXCEEDED decided by the daemon", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("timeout of 200 ms took %v", el)
	}
}

func TestDaemonErrorMapping(t *testing.T) {
	d := startDaemon(t, shortSocketPath(t))
	c := daemonClient(t, d.sock)
	cases := []struct {
		code       string
		status     Status
		retryable  bool
		retryAfter time.Duration
		sentinel   error
	}{
		{"UNAVAILABLE", StatusUnavailable, true, 1500 * time.Millisecond, ErrUnavailable},
		{"PERMISSION_DENIED", StatusPermissionDenied, false, 0, ErrPermissionDenied},
		{"RESOURCE_EXHAUSTED", StatusResourceExhausted, true, 250 * time.Millisecond, ErrResourceExhausted},
		{"INVALID_ARGUMENT", StatusInvalidArgument, false, 0, ErrInvalidArgument},
		{"INTERNAL", StatusInternal, false, 0, ErrInternal},
	}
	for _, tc := range cases {
		t.Run(tc.code, func(t *testing.T) {
			msg := "mock says " + strings.ToLower(tc.code)
			_, err := c.Chat(callCtx(t), mockRequest("x", map[string]any{"fail": map[string]any{
				"code": tc.code, "retryable": tc.retryable, "retry_after_ms": tc.retryAfter.Milliseconds(),
				"message": msg}}))
			e := asError(t, err)
			if e.Status != tc.status || e.Retryable != tc.retryable || e.RetryAfter != tc.retryAfter {
				t.Errorf("got %+v", *e)
			}
			if !errors.Is(err, tc.sentinel) || !strings.Contains(e.Message, msg) || e.Origin == "" || e.Origin == OriginClient {
				t.Errorf("got %v (origin %q)", err, e.Origin)
			}
		})
	}
}

func TestDaemonCutStreamIsAnError(t *testing.T) {
	d := startDaemon(t, shortSocketPath(t))
	c := daemonClient(t, d.sock)
	st, _ := c.ChatStream(callCtx(t), mockRequest("a b c d e f", map[string]any{"chunks": 6, "cut_after_chunks": 2}))
	got := 0
	var err error
	for {
		if _, err = st.Recv(); err != nil {
			break
		}
		got++
	}
	if got != 2 || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %d chunks then %v, want 2 chunks then UNAVAILABLE", got, err)
	}
}

func TestDaemonMetadataRoundTrip(t *testing.T) {
	d := startDaemon(t, shortSocketPath(t))
	c := daemonClient(t, d.sock, WithMetadata(Metadata{Tenant: "acme", User: "default",
		Tags: map[string]string{"env": "test", "team": "core"}}))
	req := mockRequest("x", map[string]any{"echo_metadata": true})
	req.Metadata = Metadata{User: "u-42", Session: "s-1", RequestID: "req-9", PromptID: "triage",
		PromptVersion: "v3", Tags: map[string]string{"team": "billing", "ключ": "значение"}}
	resp, err := c.Chat(callCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(resp.Content), &got); err != nil {
		t.Fatalf("echo_metadata answer is not JSON: %v: %q", err, resp.Content)
	}
	want := map[string]any{"tenant": "acme", "user": "u-42", "session": "s-1", "request_id": "req-9",
		"prompt_id": "triage", "prompt_version": "v3",
		"tags": map[string]any{"env": "test", "team": "billing", "ключ": "значение"}}
	assertSameJSON(t, "metadata seen by the daemon", got, want)
}

func TestDaemonFeedback(t *testing.T) {
	d := startDaemon(t, shortSocketPath(t))
	c := daemonClient(t, d.sock, WithMetadata(Metadata{Tenant: "acme"}))
	resp, err := c.Chat(callCtx(t), user("rate me"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Feedback(callCtx(t), resp.TraceID, 0.75, "good answer"); err != nil {
		t.Fatalf("Feedback(%q): %v", resp.TraceID, err)
	}
}

// SIGTERM the daemon while a stream is in flight and start a new daemon on the same socket
// path: the in-flight stream drains, a call made during the drain waits for the new daemon, and
// the same client keeps working.
func TestDaemonRestartReconnects(t *testing.T) {
	sock := shortSocketPath(t)
	first := startDaemon(t, sock)
	c := daemonClient(t, sock)
	if _, err := c.Chat(callCtx(t), user("before")); err != nil {
		t.Fatal(err)
	}
	firstConn := currentConn(c)
	st, err := c.ChatStream(callCtx(t), mockRequest("d r a i n s", map[string]any{"chunks": 6, "chunk_interval_ms": 50}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	first.signalled = true
	if err := first.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// GoAway (or the close) takes the connection out of use.
	if !waitFor(5*time.Second, func() bool { return currentConn(c) != firstConn }) {
		t.Fatal("the client kept using the connection of the draining daemon")
	}

	// Made during the drain: it must wait for the next daemon, not fail.
	queued := make(chan error, 1)
	go func() {
		resp, err := c.Chat(callCtx(t), user("during the drain"))
		if err == nil && resp.Content != "during the drain" {
			err = fmt.Errorf("got %q", resp.Content)
		}
		queued <- err
	}()

	drained := 1
	for {
		_, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Errorf("in-flight stream after SIGTERM: %v (after %d chunks)", err, drained)
			break
		}
		drained++
	}
	if err := first.stop(); err != nil {
		t.Errorf("daemon exit after SIGTERM: %v", err)
	}
	startDaemon(t, sock)
	select {
	case err := <-queued:
		if err != nil {
			t.Fatalf("call made during the drain: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the call made during the drain never finished")
	}
	if resp, err := c.Chat(callCtx(t), user("after")); err != nil || resp.Content != "after" {
		t.Fatalf("after restart: %v %v", resp, err)
	}
	if cn := currentConn(c); cn == nil || cn == firstConn {
		t.Error("the client did not move to a new connection")
	}
}

// SIGKILL the daemon while unary calls and half-read streams are in flight: every call ends
// within 3 s, either with its whole answer or with a retryable UNAVAILABLE *Error and never
// both; calls made while no daemon listens wait for a new one on the same socket path, and the
// same client carries on there.
func TestDaemonSIGKILLUnderLoad(t *testing.T) {
	sock := shortSocketPath(t)
	first := startDaemon(t, sock)
	c := daemonClient(t, sock)
	firstConn := currentConn(c)
	const nUnary, nStreams = 8, 8
	words := "w0 w1 w2 w3 w4 w5 w6 w7 w8 w9"

	type outcome struct {
		name    string
		content string
		err     error
	}
	ended := make(chan outcome, nUnary+nStreams)
	streaming := make(chan struct{}, nStreams) // one token per stream with a chunk read
	for i := 0; i < nUnary; i++ {
		go func() {
			name := fmt.Sprintf("unary %d", i)
			resp, err := c.Chat(context.Background(), mockRequest(name, map[string]any{"latency_ms": 2000}))
			o := outcome{name: name, err: err}
			if err == nil {
				o.content = resp.Content
			}
			ended <- o
		}()
	}
	for i := 0; i < nStreams; i++ {
		go func() {
			o := outcome{name: fmt.Sprintf("stream %d", i)}
			defer func() { ended <- o }()
			st, err := c.ChatStream(context.Background(),
				mockRequest(words, map[string]any{"chunks": 10, "chunk_interval_ms": 200}))
			if err != nil {
				o.err = err
				streaming <- struct{}{}
				return
			}
			defer st.Close()
			var got strings.Builder
			for n := 0; ; n++ {
				ch, err := st.Recv()
				if err == io.EOF {
					o.content = got.String()
					return
				}
				if err != nil {
					o.err = err
					if n == 0 {
						streaming <- struct{}{}
					}
					return
				}
				if n == 0 {
					streaming <- struct{}{}
				}
				got.WriteString(ch.Delta)
			}
		}()
	}
	for i := 0; i < nStreams; i++ {
		select {
		case <-streaming:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d streams got a chunk within 10 s", i, nStreams)
		}
	}
	if !waitFor(5*time.Second, func() bool { return openStreams(c) == nUnary+nStreams }) {
		t.Fatalf("%d calls in flight, want %d", openStreams(c), nUnary+nStreams)
	}

	first.kill(t)
	bound := time.After(3 * time.Second)
	seen := map[string]outcome{}
	failures, successes := 0, 0
	for len(seen) < nUnary+nStreams {
		var o outcome
		select {
		case o = <-ended:
		case <-bound:
			t.Fatalf("%d of %d calls still waiting 3 s after SIGKILL", nUnary+nStreams-len(seen), nUnary+nStreams)
		}
		if _, twice := seen[o.name]; twice {
			t.Fatalf("%s ended twice", o.name)
		}
		seen[o.name] = o
		if o.err != nil {
			failures++
			var e *Error
			if !errors.As(o.err, &e) || e.Status != StatusUnavailable || !e.Retryable || !errors.Is(o.err, ErrUnavailable) {
				t.Errorf("%s: %v (%T), want a retryable UNAVAILABLE *Error", o.name, o.err, o.err)
			}
			continue
		}
		successes++
		want := o.name // an answer is whole, never cut short
		if strings.HasPrefix(o.name, "stream") {
			want = words
		}
		if o.content != want {
			t.Errorf("%s succeeded with %q, want %q", o.name, o.content, want)
		}
	}
	if successes+failures != nUnary+nStreams || failures == 0 {
		t.Fatalf("%d successes + %d failures for %d calls (none may be lost, some must fail)",
			successes, failures, nUnary+nStreams)
	}
	if n := openStreams(c); n != 0 {
		t.Errorf("%d streams still registered after the connection died", n)
	}
	t.Logf("after SIGKILL: %d calls failed retryable UNAVAILABLE, %d had their answer", failures, successes)

	// Calls made while nothing listens wait for a daemon (within the connect wait)...
	const nLate = 4
	late := make(chan error, nLate)
	for i := 0; i < nLate; i++ {
		go func() {
			want := fmt.Sprintf("while down %d", i)
			resp, err := c.Chat(callCtx(t), user(want))
			if err == nil && resp.Content != want {
				err = fmt.Errorf("got %q, want %q", resp.Content, want)
			}
			late <- err
		}()
	}
	if !waitFor(5*time.Second, func() bool { return queuedCalls(c) == nLate }) {
		t.Fatalf("%d calls queued for a connection, want %d", queuedCalls(c), nLate)
	}
	// ...which starts on the same path, after the killed one's socket file.
	startDaemon(t, sock)
	for i := 0; i < nLate; i++ {
		select {
		case err := <-late:
			if err != nil {
				t.Errorf("call made while the daemon was down: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("a call made while the daemon was down never finished")
		}
	}
	if resp, err := c.Chat(callCtx(t), user("after")); err != nil || resp.Content != "after" {
		t.Fatalf("after restart: %v %v", resp, err)
	}
	st, err := c.ChatStream(callCtx(t), mockRequest("s t r", map[string]any{"chunks": 3}))
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	for {
		ch, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("stream after restart: %v", err)
		}
		got.WriteString(ch.Delta)
	}
	if got.String() != "s t r" {
		t.Errorf("stream after restart: %q", got.String())
	}
	if cn := currentConn(c); cn == nil || cn == firstConn {
		t.Error("the client did not move to a new connection")
	}
}

// queuedCalls counts the calls waiting in the client's queue for a connection.
func queuedCalls(c *Client) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queue.Len()
}

func waitFor(limit time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

func currentConn(c *Client) *conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur
}

// openStreams counts the streams registered on the client's connections.
func openStreams(c *Client) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for cn := range c.conns {
		cn.mu.Lock()
		n += len(cn.streams)
		cn.mu.Unlock()
	}
	return n
}

func TestDaemonServerVerification(t *testing.T) {
	d := startDaemon(t, shortSocketPath(t))
	c := daemonClient(t, d.sock, WithVerifyServer(true))
	if resp, err := c.Chat(callCtx(t), user("verified")); err != nil || resp.Content != "verified" {
		t.Fatalf("%v %v", resp, err)
	}
	stranger := os.Geteuid() + 12345
	_, err := Dial(callCtx(t), WithSocketPath(d.sock), WithExpectedServerUID(stranger))
	if !errors.Is(err, ErrPermissionDenied) || IsRetryable(err) || !strings.Contains(err.Error(), fmt.Sprint(stranger)) {
		t.Fatalf("got %v, want a PERMISSION_DENIED naming uid %d", err, stranger)
	}
}
