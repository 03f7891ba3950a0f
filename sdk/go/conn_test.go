package outrigger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/outrigger-dev/outrigger/sdk/go/internal/wiredesc"
	"github.com/outrigger-dev/outrigger/sdk/go/wire"
)

// Connection behaviour against the in-process fake sidecar: handshake, GoAway, dropped and
// silent connections, frame limits, queueing and flow control.

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
	// A cancelled call's caller hears the end first; its queue entry goes a moment later.
	deadline = time.Now().Add(testWait)
	for {
		c.mu.Lock()
		n := c.queue.Len()
		c.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cancelled calls left %d entries in the queue", n)
		}
		time.Sleep(time.Millisecond)
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

// A vector whose length was overwritten with 0xFFFFFFFF (a hostile or corrupt sidecar) must
// not size an allocation: the calls on the connection fail with a retryable UNAVAILABLE, the
// process lives on, and the next call gets a new connection.
func TestVectorLengthPastTheFrameDropsTheConnection(t *testing.T) {
	schema := loadSchema(t)
	vectors := map[string][]byte{}
	for _, v := range loadVectors(t) {
		vectors[v.name] = v.bin
	}
	for _, tc := range []struct {
		vector, field string
		stream        bool
	}{
		{"response_end_ok", "ResponseEnd.tool_calls", false},
		{"response_end_ok", "ResponseEnd.verdicts", false},
		{"response_chunk", "ResponseChunk.tool_calls", true},
	} {
		t.Run(tc.field, func(t *testing.T) {
			srv := newFakeServer(t, ackSpec{})
			c := dialFake(t, srv)
			fc := srv.next(t)
			errc := make(chan error, 1)
			go func() {
				if !tc.stream {
					_, err := c.Chat(context.Background(), user("x"))
					errc <- err
					return
				}
				st, err := c.ChatStream(context.Background(), user("x"))
				if err == nil {
					_, err = st.Recv()
				}
				errc <- err
			}()
			id := fc.recvType(t, "Request").id
			frame := hugeLength(t, schema, vectors[tc.vector], tc.field)
			setStreamID(frame, id)
			fc.send(frame)
			err := waitErr(t, errc)
			if !errors.Is(err, ErrUnavailable) || !IsRetryable(err) ||
				!strings.Contains(err.Error(), "malformed frame: "+tc.field+":") {
				t.Fatalf("got %v, want a retryable UNAVAILABLE naming %s", err, tc.field)
			}
			expectDroppedThenServed(t, srv, fc, c)
		})
	}
}

// hugeLength returns a copy of frame with the length of field set to 0xFFFFFFFF.
func hugeLength(t *testing.T, s fbsSchema, frame []byte, field string) []byte {
	t.Helper()
	for _, c := range corruptions(s, frame) {
		if c.path == field && c.kind == lengthWord {
			return c.apply(frame)
		}
	}
	t.Fatalf("the frame has no %s", field)
	return nil
}

func TestHeartbeatKeepsAnsweringSidecarConnected(t *testing.T) {
	srv := newFakeServer(t, ackSpec{heartbeat: 100})
	c := dialFake(t, srv)
	fc := srv.next(t)
	fc.serveEcho() // answers Pings with Pongs
	first := currentConn(c)
	time.Sleep(700 * time.Millisecond) // seven intervals, well past the three-interval limit
	if resp, err := c.Chat(context.Background(), user("alive")); err != nil || resp.Content != "alive" {
		t.Fatalf("%v %v", resp, err)
	}
	if currentConn(c) != first {
		t.Error("the connection was replaced although the sidecar answered every Ping")
	}
}

// A stopped sidecar (SIGSTOP) keeps its socket open and answers nothing. A call with neither a
// timeout nor a context deadline still ends, with a retryable UNAVAILABLE, once the
// connection has been silent for three heartbeat intervals, and not before.
func TestHeartbeatDropsSilentSidecar(t *testing.T) {
	srv := newFakeServer(t, ackSpec{heartbeat: 100})
	lastRead := time.Now() // no later than the HelloAck; the fake sends nothing more
	c := dialFake(t, srv)
	fc := srv.next(t)
	errc := make(chan error, 1)
	go func() { _, err := c.Chat(context.Background(), user("x")); errc <- err }()
	fc.recvType(t, "Request")
	if p := fc.recvType(t, "Ping"); p.id != 0 {
		t.Errorf("Ping on stream %d", p.id)
	}
	// Never answer: the client must give up on the connection, not wait forever.
	err := waitErr(t, errc)
	if silent := time.Since(lastRead); silent < 300*time.Millisecond {
		t.Errorf("dropped after %v of silence, before three intervals", silent)
	}
	if !errors.Is(err, ErrUnavailable) || !IsRetryable(err) || !strings.Contains(err.Error(), "heartbeat") {
		t.Fatalf("got %v", err)
	}
	go func() { srv.next(t).serveEcho() }()
	if resp, err := c.Chat(context.Background(), user("again")); err != nil || resp.Content != "again" {
		t.Fatalf("after the drop: %v %v", resp, err)
	}
}

// Any frame shows the sidecar is alive, not only a Pong: a sidecar that streams without
// answering Pings keeps its connection, and the silence that drops it counts from its last frame.
func TestHeartbeatCountsEveryFrameRead(t *testing.T) {
	srv := newFakeServer(t, ackSpec{heartbeat: 100})
	c := dialFake(t, srv)
	fc := srv.next(t)
	st, err := c.ChatStream(context.Background(), user("x"))
	if err != nil {
		t.Fatal(err)
	}
	id := fc.recvType(t, "Request").id
	var lastSent time.Time
	for i := 0; i < 10; i++ { // 500 ms, five intervals, with no Pong
		lastSent = time.Now()
		fc.send(chunkFrame(id, uint32(i), "."))
		if _, err := st.Recv(); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Silence from here: the stream fails three intervals after the last chunk at the earliest.
	_, err = st.Recv()
	if silent := time.Since(lastSent); silent < 300*time.Millisecond {
		t.Errorf("dropped %v after the last frame, before three intervals", silent)
	}
	if !errors.Is(err, ErrUnavailable) || !IsRetryable(err) || !strings.Contains(err.Error(), "heartbeat") {
		t.Fatalf("got %v", err)
	}
}

// A client process that was itself stopped (SIGSTOP, a debugger, a suspended machine) sent no
// Pings and read nothing meanwhile: that silence is its own, not the sidecar's. The connection
// and the call in flight on it survive, and the heartbeat goes on with a Ping at once.
func TestHeartbeatSurvivesAPausedClient(t *testing.T) {
	srv := newFakeServer(t, ackSpec{heartbeat: 100})
	c := dialFake(t, srv)
	fc := srv.next(t)
	held := make(chan uint64, 1)
	fc.serveHeld(held)
	first := currentConn(c)
	done := make(chan *Response, 1)
	errc := make(chan error, 1)
	go func() {
		resp, err := c.Chat(context.Background(), user("slow"))
		done <- resp
		errc <- err
	}()
	var id uint64
	select {
	case id = <-held:
	case <-time.After(testWait):
		t.Fatal("no Request")
	}
	time.Sleep(150 * time.Millisecond) // a Ping answered: the connection is known to be alive
	pauseProcess(t, 700*time.Millisecond)
	time.Sleep(250 * time.Millisecond) // listening again for more than two intervals
	fc.send(endOK(id, "done", "echo"))
	if err := waitErr(t, errc); err != nil {
		t.Fatalf("the call failed after the client's own pause: %v", err)
	}
	if resp := <-done; resp.Content != "done" {
		t.Fatalf("got %q", resp.Content)
	}
	if currentConn(c) != first {
		t.Error("the connection was replaced after the client's own pause")
	}
}

// pauseProcess stops this whole process (SIGSTOP) for about d, as job control or a debugger
// would; a shell it started resumes it with SIGCONT.
func pauseProcess(t *testing.T, d time.Duration) {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh to resume the paused process")
	}
	pid := os.Getpid()
	script := fmt.Sprintf("kill -STOP %d; sleep %.3f; kill -CONT %d", pid, d.Seconds(), pid)
	if out, err := exec.Command("sh", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("pausing the process: %v %s", err, out)
	}
}

// On a connection-fatal error the sidecar first ends each stream with its own ResponseEnd,
// then sends Error and closes. Each call reports its own end; a call whose stream got no end
// fails as any call on a lost connection does.
func TestConnectionFatalErrorReportsEachStreamsOwnEnd(t *testing.T) {
	srv := newFakeServer(t, ackSpec{})
	c := dialFake(t, srv)
	fc := srv.next(t)
	results := map[string]chan error{}
	for _, q := range []string{"acted", "refused", "silent"} {
		errc := make(chan error, 1)
		results[q] = errc
		go func() { _, err := c.Chat(context.Background(), user(q)); errc <- err }()
	}
	ids := map[string]uint64{}
	for len(ids) < 3 {
		r := fc.recvType(t, "Request")
		ids[lastContent(r.body)] = r.id
	}
	fc.send(
		endFrame(ids["acted"], endSpec{status: StatusUnavailable, reachedProvider: true,
			origin: "sidecar/connection", message: "corrupt frame"}),
		endFrame(ids["refused"], endSpec{status: StatusUnavailable, retryable: true,
			origin: "sidecar/connection", message: "not started"}),
		errorFrame(StatusInvalidArgument, "corrupt frame", 0, 0))
	fc.nc.Close()

	type outcome struct {
		status          Status
		retryable       bool
		reachedProvider bool
		message, origin string
	}
	seen := func(q string) outcome {
		e := asError(t, waitErr(t, results[q]))
		return outcome{e.Status, e.Retryable, e.ReachedProvider, e.Message, e.Origin}
	}
	if got, want := seen("acted"), (outcome{StatusUnavailable, false, true, "corrupt frame", "sidecar/connection"}); got != want {
		t.Errorf("stream that reached the provider: got %+v, want %+v", got, want)
	}
	if got, want := seen("refused"), (outcome{StatusUnavailable, true, false, "not started", "sidecar/connection"}); got != want {
		t.Errorf("stream that did not: got %+v, want %+v", got, want)
	}
	silent := seen("silent")
	if silent.status != StatusUnavailable || !silent.retryable || silent.reachedProvider || silent.origin != OriginClient ||
		!strings.Contains(silent.message, "corrupt frame") {
		t.Errorf("stream without an end: got %+v, want a retryable UNAVAILABLE from the client", silent)
	}
}

// FlatBuffers' verifier passes a union whose type is set and whose table is missing. The client
// read it as no body and left the call waiting; with no deadline it waited for good.
func TestABodyNamedAndMissingDropsTheConnection(t *testing.T) {
	for _, typ := range []wire.Body{wire.BodyResponseEnd, wire.BodyResponseChunk, wire.BodyResponseStart} {
		t.Run(wire.EnumNamesBody[typ], func(t *testing.T) {
			srv := newFakeServer(t, ackSpec{})
			c := dialFake(t, srv)
			fc := srv.next(t)
			errc := make(chan error, 1)
			go func() {
				_, err := c.Chat(context.Background(), user("x"))
				errc <- err
			}()
			id := fc.recvType(t, "Request").id
			fc.send(serverFrame(id, typ, func(b *flatbuffers.Builder) flatbuffers.UOffsetT { return 0 }))
			err := waitErr(t, errc)
			if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "is named and missing") {
				t.Fatalf("got %v, want UNAVAILABLE for a missing body", err)
			}
			expectDroppedThenServed(t, srv, fc, c)
		})
	}
}

// A streamed tool call's index sizes the stream's list of calls: one past what the sidecar sends
// made Recv grow it to billions of entries, and the runtime ended the process.
func TestAToolCallIndexPastTheSidecarsLimitDropsTheConnection(t *testing.T) {
	srv := newFakeServer(t, ackSpec{})
	c := dialFake(t, srv)
	fc := srv.next(t)
	errc := make(chan error, 1)
	go func() {
		st, err := c.ChatStream(context.Background(), user("x"))
		if err == nil {
			_, err = st.Recv()
		}
		errc <- err
	}()
	id := fc.recvType(t, "Request").id
	fc.send(chunkFrame(id, 0, "", ToolCallDelta{Index: 0xFFFFFFF0, Name: "f"}))
	err := waitErr(t, errc)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "tool_calls.index") {
		t.Fatalf("got %v, want UNAVAILABLE naming the index", err)
	}
	expectDroppedThenServed(t, srv, fc, c)
}
