package outrigger

import (
	"bufio"
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/outrigger-dev/outrigger/sdk/go/internal/wiredesc"
	"github.com/outrigger-dev/outrigger/sdk/go/wire"
)

// An in-process stand-in for the sidecar: it speaks the wire protocol on a temp socket and lets
// a test script exactly which frames the client gets, so connection-level behaviour (GoAway,
// dropped connections, frame limits) is tested deterministically and without the daemon.

const testWait = 5 * time.Second // upper bound for anything a test waits on

type ackSpec struct {
	maxFrame   uint32
	maxStreams uint32
	heartbeat  uint32 // ms
	refuse     bool   // answer Hello with Error{FAILED_PRECONDITION}
}

type fakeServer struct {
	t        *testing.T
	path     string
	ack      ackSpec
	mu       sync.Mutex
	ln       net.Listener
	accepted chan *fakeConn
}

type fakeConn struct {
	nc    net.Conn
	hello wiredesc.Object
	in    chan received
	wmu   sync.Mutex
	gate  sync.RWMutex  // write-locked while stalled: the fake reads nothing
	gone  chan struct{} // closed when the client side closed or failed
	// closed once the reader has passed the gate for the first time, so a stall right after the
	// handshake still lets the first frame in (a loaded machine may start the reader late)
	reading chan struct{}
}

// received is one frame from the client, described.
type received struct {
	id   uint64
	typ  string
	body wiredesc.Object
}

// shortSocketPath returns a fresh socket path short enough for sun_path.
func shortSocketPath(t *testing.T) string {
	dir, err := os.MkdirTemp("", "orgo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "s.sock")
}

func newFakeServer(t *testing.T, ack ackSpec) *fakeServer {
	t.Helper()
	s := &fakeServer{t: t, path: shortSocketPath(t), ack: ack, accepted: make(chan *fakeConn, 16)}
	s.listen()
	return s
}

// listen (re)starts accepting on the server's path.
func (s *fakeServer) listen() {
	s.t.Helper()
	ln, err := net.Listen("unix", s.path)
	if err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go s.handshake(nc)
		}
	}()
}

// stopListening closes the listener and removes the socket file; accepted connections stay.
func (s *fakeServer) stopListening() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ln.Close()
	os.Remove(s.path)
}

func (s *fakeServer) handshake(nc net.Conn) {
	br := bufio.NewReader(nc)
	buf, err := readFrame(br, nil, hardMaxFrame)
	if err != nil {
		nc.Close()
		return
	}
	hello, err := wiredesc.Describe(buf)
	if err != nil || hello["body_type"] != "Hello" {
		nc.Close()
		return
	}
	if s.ack.refuse {
		nc.Write(errorFrame(StatusFailedPrecondition, "protocol major 1 is not supported", 2, 3))
		nc.Close()
		return
	}
	maxFrame := s.ack.maxFrame
	if maxFrame == 0 {
		maxFrame = 4 << 20
	}
	nc.Write(helloAckFrame(maxFrame, s.ack.maxStreams, s.ack.heartbeat))
	fc := &fakeConn{nc: nc, hello: hello["body"].(wiredesc.Object), in: make(chan received, 4096),
		gone: make(chan struct{}), reading: make(chan struct{})}
	go func() {
		defer close(fc.gone)
		for first := true; ; first = false {
			fc.gate.RLock() // waits while the test stalls this connection
			fc.gate.RUnlock()
			if first {
				close(fc.reading)
			}
			b, err := readFrame(br, nil, hardMaxFrame)
			if err != nil {
				return
			}
			d, err := wiredesc.Describe(b)
			if err != nil {
				s.t.Errorf("fake server: client sent an unreadable frame: %v", err)
				return
			}
			body, _ := d["body"].(wiredesc.Object)
			fc.in <- received{id: d["stream_id"].(uint64), typ: d["body_type"].(string), body: body}
		}
	}()
	s.accepted <- fc
}

// next returns the next connection that completed the handshake.
func (s *fakeServer) next(t *testing.T) *fakeConn {
	t.Helper()
	select {
	case fc := <-s.accepted:
		t.Cleanup(func() { fc.nc.Close() })
		return fc
	case <-time.After(testWait):
		t.Fatal("fake server: no connection")
		return nil
	}
}

// recv returns the next frame the client sent on fc.
func (fc *fakeConn) recv(t *testing.T) received {
	t.Helper()
	select {
	case r := <-fc.in:
		return r
	case <-time.After(testWait):
		t.Fatal("fake server: no frame from the client")
		return received{}
	}
}

// recvType skips frames until one of type typ arrives.
func (fc *fakeConn) recvType(t *testing.T, typ string) received {
	t.Helper()
	for {
		if r := fc.recv(t); r.typ == typ {
			return r
		}
	}
}

// stall stops the fake from reading once the frame it is reading now is in, so what the client
// writes next backs up in the socket and blocks its writer, as with a stopped sidecar.
func (fc *fakeConn) stall() {
	<-fc.reading
	fc.gate.Lock()
}

// resume undoes stall.
func (fc *fakeConn) resume() { fc.gate.Unlock() }

func (fc *fakeConn) send(frames ...[]byte) {
	fc.wmu.Lock()
	defer fc.wmu.Unlock()
	for _, f := range frames {
		fc.nc.Write(f)
	}
}

// serve answers every Ping, as the sidecar does, and hands every other frame to onFrame, until
// the connection ends.
func (fc *fakeConn) serve(onFrame func(r received)) {
	go func() {
		for {
			select {
			case r := <-fc.in:
				if r.typ == "Ping" {
					fc.send(pongFrame(r.body["opaque"].(uint64)))
				} else {
					onFrame(r)
				}
			case <-fc.gone:
				return
			}
		}
	}()
}

// serveEcho answers every Request with its last message's content.
func (fc *fakeConn) serveEcho() {
	fc.serve(func(r received) {
		switch r.typ {
		case "Request":
			fc.send(endOK(r.id, lastContent(r.body), "echo"))
		case "Feedback":
			fc.send(endFrame(r.id, endSpec{}))
		}
	})
}

// serveHeld hands each Request's stream id to held instead of answering it, so the test decides
// when the call ends.
func (fc *fakeConn) serveHeld(held chan<- uint64) {
	fc.serve(func(r received) {
		if r.typ == "Request" {
			held <- r.id
		}
	})
}

func lastContent(req wiredesc.Object) string {
	msgs, _ := req["messages"].([]any)
	if len(msgs) == 0 {
		return ""
	}
	s, _ := msgs[len(msgs)-1].(wiredesc.Object)["content"].(string)
	return s
}

// ---------------------------------------------------------------- server-side frames

func serverFrame(id uint64, t wire.Body, body func(b *flatbuffers.Builder) flatbuffers.UOffsetT) []byte {
	return build(func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
		return frameOf(b, id, t, body(b))
	})
}

func helloAckFrame(maxFrame, maxStreams, heartbeatMs uint32) []byte {
	return serverFrame(0, wire.BodyHelloAck, func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
		v := b.CreateString("fake")
		wire.HelloAckStart(b)
		wire.HelloAckAddProtoMajor(b, 1)
		wire.HelloAckAddServerVersion(b, v)
		wire.HelloAckAddMaxFrameSize(b, maxFrame)
		wire.HelloAckAddMaxConcurrentStreams(b, maxStreams)
		wire.HelloAckAddFeatures(b, 15)
		wire.HelloAckAddHeartbeatMs(b, heartbeatMs)
		return wire.HelloAckEnd(b)
	})
}

func errorFrame(st Status, msg string, lo, hi uint16) []byte {
	return serverFrame(0, wire.BodyError, func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
		m := b.CreateString(msg)
		wire.ErrorStart(b)
		wire.ErrorAddStatus(b, wire.Status(st))
		wire.ErrorAddMessage(b, m)
		wire.ErrorAddSupportedMajorMin(b, lo)
		wire.ErrorAddSupportedMajorMax(b, hi)
		return wire.ErrorEnd(b)
	})
}

func goAwayFrame(last uint64) []byte {
	return serverFrame(0, wire.BodyGoAway, func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
		r := b.CreateString("shutting down")
		wire.GoAwayStart(b)
		wire.GoAwayAddLastStreamId(b, last)
		wire.GoAwayAddReason(b, r)
		wire.GoAwayAddDrainMs(b, 1000)
		return wire.GoAwayEnd(b)
	})
}

func pingFrame(opaque uint64) []byte {
	return serverFrame(0, wire.BodyPing, func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
		wire.PingStart(b)
		wire.PingAddOpaque(b, opaque)
		return wire.PingEnd(b)
	})
}

func pongFrame(opaque uint64) []byte {
	return serverFrame(0, wire.BodyPong, func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
		wire.PongStart(b)
		wire.PongAddOpaque(b, opaque)
		return wire.PongEnd(b)
	})
}

func startFrame(id uint64, model, provider, trace string) []byte {
	return startFrameMeta(id, model, provider, trace, "", "")
}

// startFrameMeta is a start that also carries the upstream's system fingerprint and service
// tier (each left out when empty).
func startFrameMeta(id uint64, model, provider, trace, fingerprint, tier string) []byte {
	return serverFrame(id, wire.BodyResponseStart, func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
		m, p, tr := b.CreateString(model), b.CreateString(provider), b.CreateString(trace)
		fp, st := optString(b, fingerprint), optString(b, tier)
		wire.ResponseStartStart(b)
		wire.ResponseStartAddModel(b, m)
		wire.ResponseStartAddProvider(b, p)
		wire.ResponseStartAddTraceId(b, tr)
		if fp != 0 {
			wire.ResponseStartAddSystemFingerprint(b, fp)
		}
		if st != 0 {
			wire.ResponseStartAddServiceTier(b, st)
		}
		return wire.ResponseStartEnd(b)
	})
}

func chunkFrame(id uint64, seq uint32, delta string, calls ...ToolCallDelta) []byte {
	return chunkFrameOf(id, seq, delta, false, calls...)
}

// refusalChunkFrame is a chunk whose delta is the model's refusal text.
func refusalChunkFrame(id uint64, seq uint32, delta string) []byte {
	return chunkFrameOf(id, seq, delta, true)
}

func chunkFrameOf(id uint64, seq uint32, delta string, refusal bool, calls ...ToolCallDelta) []byte {
	return serverFrame(id, wire.BodyResponseChunk, func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
		offs := make([]flatbuffers.UOffsetT, len(calls))
		for i, c := range calls {
			cid, name, args := optString(b, c.ID), optString(b, c.Name), b.CreateString(c.Arguments)
			wire.ToolCallDeltaStart(b)
			wire.ToolCallDeltaAddIndex(b, c.Index)
			if cid != 0 {
				wire.ToolCallDeltaAddId(b, cid)
			}
			if name != 0 {
				wire.ToolCallDeltaAddName(b, name)
			}
			wire.ToolCallDeltaAddArguments(b, args)
			offs[i] = wire.ToolCallDeltaEnd(b)
		}
		vec := offsetVector(b, offs)
		d := b.CreateString(delta)
		wire.ResponseChunkStart(b)
		wire.ResponseChunkAddSeq(b, seq)
		wire.ResponseChunkAddDelta(b, d)
		if vec != 0 {
			wire.ResponseChunkAddToolCalls(b, vec)
		}
		if refusal {
			wire.ResponseChunkAddRefusal(b, true)
		}
		return wire.ResponseChunkEnd(b)
	})
}

type endSpec struct {
	status          Status
	retryable       bool
	retryAfterMs    uint32
	origin          string
	message         string
	content         string
	model           string
	traceID         string
	reachedProvider bool
	// finishReason replaces "stop" on an OK end.
	finishReason      string
	refusal           bool
	systemFingerprint string
	serviceTier       string
	verdicts          []GuardrailVerdict
}

func endFrame(id uint64, e endSpec) []byte {
	return serverFrame(id, wire.BodyResponseEnd, func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
		origin, msg, content := optString(b, e.origin), optString(b, e.message), optString(b, e.content)
		model, trace := optString(b, e.model), optString(b, e.traceID)
		fp, tier := optString(b, e.systemFingerprint), optString(b, e.serviceTier)
		verdicts := verdictVector(b, e.verdicts)
		finish := e.finishReason
		if finish == "" {
			finish = "stop"
		}
		stop := b.CreateString(finish)
		wire.UsageStart(b)
		wire.UsageAddPromptTokens(b, 3)
		wire.UsageAddCompletionTokens(b, 5)
		usage := wire.UsageEnd(b)
		wire.ResponseEndStart(b)
		wire.ResponseEndAddStatus(b, wire.Status(e.status))
		wire.ResponseEndAddRetryable(b, e.retryable)
		wire.ResponseEndAddRetryAfterMs(b, e.retryAfterMs)
		wire.ResponseEndAddReachedProvider(b, e.reachedProvider)
		if e.refusal {
			wire.ResponseEndAddRefusal(b, true)
		}
		for _, f := range []struct {
			off flatbuffers.UOffsetT
			add func(*flatbuffers.Builder, flatbuffers.UOffsetT)
		}{{origin, wire.ResponseEndAddOrigin}, {msg, wire.ResponseEndAddMessage},
			{content, wire.ResponseEndAddContent}, {model, wire.ResponseEndAddModel},
			{trace, wire.ResponseEndAddTraceId}, {fp, wire.ResponseEndAddSystemFingerprint},
			{tier, wire.ResponseEndAddServiceTier}} {
			if f.off != 0 {
				f.add(b, f.off)
			}
		}
		if verdicts != 0 {
			wire.ResponseEndAddVerdicts(b, verdicts)
		}
		if e.status == StatusOK {
			wire.ResponseEndAddFinishReason(b, stop)
			wire.ResponseEndAddUsage(b, usage)
		}
		return wire.ResponseEndEnd(b)
	})
}

// verdictVector writes verdicts for a ResponseEnd; 0 when there are none.
func verdictVector(b *flatbuffers.Builder, verdicts []GuardrailVerdict) flatbuffers.UOffsetT {
	if len(verdicts) == 0 {
		return 0
	}
	offs := make([]flatbuffers.UOffsetT, len(verdicts))
	for i, v := range verdicts {
		name, reason := b.CreateString(v.Guardrail), optString(b, v.Reason)
		wire.GuardrailVerdictStart(b)
		wire.GuardrailVerdictAddGuardrail(b, name)
		wire.GuardrailVerdictAddVerdict(b, wire.Verdict(v.Verdict))
		if reason != 0 {
			wire.GuardrailVerdictAddReason(b, reason)
		}
		offs[i] = wire.GuardrailVerdictEnd(b)
	}
	return offsetVector(b, offs)
}

func endOK(id uint64, content, model string) []byte {
	return endFrame(id, endSpec{content: content, model: model, origin: "provider/fake", traceID: "trace-1"})
}

// expectDroppedThenServed checks that the client closed fc (after a frame it refused) and that
// its next call goes out on a new connection and is answered.
func expectDroppedThenServed(t *testing.T, srv *fakeServer, fc *fakeConn, c *Client) {
	t.Helper()
	select {
	case <-fc.gone:
	case <-time.After(testWait):
		t.Fatal("the client kept the connection open")
	}
	go func() { srv.next(t).serveEcho() }()
	if resp, err := c.Chat(context.Background(), user("again")); err != nil || resp.Content != "again" {
		t.Fatalf("after the refused frame: %v %v", resp, err)
	}
}
