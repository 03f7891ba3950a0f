package outrigger

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// What the client holds in memory for a peer or a caller that does not keep up: chunks of a
// stream nobody reads, and control frames while the socket does not take writes.

func TestUnreadStreamFailsAtItsBufferLimit(t *testing.T) {
	const limit = 64 << 10
	srv := newFakeServer(t, ackSpec{})
	c := dialFake(t, srv, WithMaxStreamBuffer(limit))
	fc := srv.next(t)
	st, err := c.ChatStream(context.Background(), user("nobody reads me"))
	if err != nil {
		t.Fatal(err)
	}
	unread := fc.recvType(t, "Request").id
	errc := make(chan error, 1)
	go func() {
		resp, err := c.Chat(context.Background(), user("other"))
		if err == nil && resp.Content != "other" {
			err = errors.New("wrong answer " + resp.Content)
		}
		errc <- err
	}()
	other := fc.recvType(t, "Request").id

	delta := strings.Repeat("x", 1<<10)
	for i := 0; i < 4*limit/len(delta); i++ {
		fc.send(chunkFrame(unread, uint32(i), delta))
	}
	if cancel := fc.recvType(t, "Cancel"); cancel.id != unread {
		t.Fatalf("Cancel for stream %d, want %d", cancel.id, unread)
	}
	select {
	case <-st.Done():
	case <-time.After(testWait):
		t.Fatal("the unread stream did not end")
	}
	_, err = st.Recv()
	e := asError(t, err)
	if e.Status != StatusResourceExhausted || e.Retryable || e.Origin != OriginClient ||
		!strings.Contains(e.Message, "did not read the stream fast enough") ||
		!strings.Contains(e.Message, "bytes buffered") {
		t.Fatalf("got %v, want a non-retryable RESOURCE_EXHAUSTED saying the stream was not read", err)
	}
	st.call.mu.Lock()
	held := len(st.call.chunks)
	st.call.mu.Unlock()
	if held != 0 {
		t.Errorf("the failed stream still holds %d chunks", held)
	}

	// The connection and the other call go on.
	fc.send(endFrame(unread, endSpec{status: StatusCancelled}), endOK(other, "other", "m"))
	if err := waitErr(t, errc); err != nil {
		t.Fatalf("the other call: %v", err)
	}
}

func TestStreamReadAsItArrivesIsNotLimited(t *testing.T) {
	const limit = 16 << 10
	srv := newFakeServer(t, ackSpec{})
	c := dialFake(t, srv, WithMaxStreamBuffer(limit))
	fc := srv.next(t)
	st, err := c.ChatStream(context.Background(), user("read me"))
	if err != nil {
		t.Fatal(err)
	}
	id := fc.recvType(t, "Request").id
	delta := strings.Repeat("y", 1<<10)
	const chunks = 4 * limit / (1 << 10) // four times the limit in all
	for i := 0; i < chunks; i++ {
		fc.send(chunkFrame(id, uint32(i), delta))
		if ch, err := st.Recv(); err != nil || ch.Delta != delta {
			t.Fatalf("chunk %d: %v", i, err)
		}
	}
	fc.send(endOK(id, "", "m"))
	if _, err := st.Recv(); err != io.EOF {
		t.Fatalf("end: got %v, want io.EOF", err)
	}
	if got := len(st.Response().Content); got != chunks*len(delta) {
		t.Fatalf("assembled %d bytes, want %d", got, chunks*len(delta))
	}
}

func TestMaxStreamBufferZeroKeepsTheDefault(t *testing.T) {
	for _, opt := range []Option{WithMaxStreamBuffer(0), func(*settings) {}} {
		c, err := New(opt, WithSocketPath(shortSocketPath(t)))
		if err != nil {
			t.Fatal(err)
		}
		if c.s.maxStreamBuffer != 64<<20 {
			t.Errorf("stream buffer %d, want 64 MiB", c.s.maxStreamBuffer)
		}
		c.Close()
	}
	if _, err := New(WithMaxStreamBuffer(-1), WithSocketPath(shortSocketPath(t))); err == nil {
		t.Error("a negative stream buffer was accepted")
	}
}

// While the socket takes no writes, the sidecar's Pings are answered by one Pong, the newest,
// instead of one queued Pong per Ping.
func TestPongsWaitingForTheWriterAreCoalesced(t *testing.T) {
	srv := newFakeServer(t, ackSpec{})
	c := dialFake(t, srv)
	fc := srv.next(t)
	fc.stall()
	big := strings.Repeat("z", 3<<20) // far more than a socket buffer holds
	errc := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() { _, err := c.Chat(context.Background(), user(big)); errc <- err }()
	}
	first := fc.recvType(t, "Request").id // read before the stall took hold
	second := 3 - first                   // the other of stream ids 1 and 2
	time.Sleep(200 * time.Millisecond)    // the writer is now blocked in the second request

	const pings = 1000
	for i := uint64(1); i <= pings; i++ {
		fc.send(pingFrame(i))
	}
	// Ends for both calls, after the Pings: once the calls return, every Ping was read.
	fc.send(endOK(first, "", "m"), endOK(second, "", "m"))
	for i := 0; i < 2; i++ {
		if err := waitErr(t, errc); err != nil {
			t.Fatal(err)
		}
	}
	fc.resume()

	pongs, newest := 0, uint64(0)
	quiet := time.After(500 * time.Millisecond)
	for done := false; !done; {
		select {
		case r := <-fc.in:
			if r.typ == "Pong" {
				pongs++
				newest = r.body["opaque"].(uint64)
			}
		case <-quiet:
			done = true
		}
	}
	// One or two once the writer is blocked; a busy machine may answer a few Pings before it is.
	// Uncoalesced, the thousand Pings would get a thousand Pongs.
	if pongs == 0 || pongs > 10 || newest != pings {
		t.Fatalf("%d Pongs written, the last for Ping %d; want at most ten, the last for Ping %d",
			pongs, newest, pings)
	}
}
