package outrigger

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/outrigger-dev/outrigger/sdk/go/wire"
)

// conn is one handshaken socket to the sidecar. A reader goroutine dispatches frames to the
// calls registered under their stream ids; a writer goroutine takes calls from the client's
// queue, gives them increasing stream ids and writes them in batches (one flush per wake-up).
type conn struct {
	client     *Client
	nc         net.Conn
	br         *bufio.Reader
	info       serverInfo
	maxFrame   uint32       // negotiated: min(ours, the sidecar's)
	maxStreams int          // 0: no limit announced
	born       time.Time    // when run started; carries the monotonic clock reading
	lastRead   atomic.Int64 // time from born to the last frame read, for the heartbeat

	mu       sync.Mutex
	nextID   uint64
	streams  map[uint64]*call
	ctrl     controlQueue // Cancel, Ping and Pong frames waiting for the writer
	draining bool         // GoAway received: no new streams
	closed   bool

	wake chan struct{} // capacity 1
	done chan struct{} // closed by close
}

var (
	errDrained = errors.New("connection drained after GoAway")
	errNoHello = errors.New("the sidecar did not answer Hello with HelloAck")
)

// batchMaxLen bounds the bytes one writer flush gathers, so a burst of calls still reaches the
// socket in steady pieces.
const batchMaxLen = 256 << 10

// connect dials the socket, checks who serves it (when verification is on) and performs the
// handshake. It returns a retryable UNAVAILABLE *Error when the sidecar cannot be reached,
// PERMISSION_DENIED when its uid is not trusted, and the sidecar's own status when it refuses
// the handshake.
func (c *Client) connect(ctx context.Context) (*conn, *Error) {
	ctx, cancel := context.WithTimeout(ctx, c.s.dialTimeout)
	defer cancel()
	path := c.SocketPath()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, clientError(StatusUnavailable, true, err, "cannot reach the sidecar at %s: %v",
			path, err)
	}
	if c.s.verify {
		if e := verifyServer(nc, path, c.s.expectedUID); e != nil {
			nc.Close()
			return nil, e
		}
	}
	cn, e := c.handshake(ctx, nc)
	if e != nil {
		nc.Close()
		return nil, e
	}
	return cn, nil
}

func (c *Client) handshake(ctx context.Context, nc net.Conn) (*conn, *Error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := nc.Write(c.hello); err != nil {
		return nil, clientError(StatusUnavailable, true, err, "handshake with the sidecar failed: %v", err)
	}
	br := bufio.NewReaderSize(nc, 64<<10)
	buf, err := readFrame(br, nil, c.s.maxFrameSize)
	if err != nil {
		return nil, clientError(StatusUnavailable, true, err, "handshake with the sidecar failed: %v", err)
	}
	var info serverInfo
	var refused *Error
	err = safely(func() error {
		f, err := parseFrame(buf)
		if err != nil {
			return err
		}
		t, ok := bodyTable(f)
		switch {
		case f.StreamId() == 0 && ok && f.BodyType() == wire.BodyHelloAck:
			info = decodeHelloAck(t)
			return nil
		case f.StreamId() == 0 && ok && f.BodyType() == wire.BodyError:
			refused = decodeConnError(t)
			return nil
		}
		return fmt.Errorf("%w (got %s on stream %d)", errNoHello, f.BodyType(), f.StreamId())
	})
	switch {
	case err != nil:
		return nil, clientError(StatusUnavailable, true, err, "handshake with the sidecar failed: %v", err)
	case refused != nil:
		refused.Message = "the sidecar refused the handshake: " + refused.Message
		return nil, refused
	case info.protoMajor != protoMajor:
		return nil, clientError(StatusFailedPrecondition, false, nil,
			"the sidecar speaks protocol %d.%d, this SDK speaks %d.%d", info.protoMajor,
			info.protoMinor, protoMajor, protoMinor)
	}
	if !stop() { // ctx ended and its hook is expiring the socket's deadline
		return nil, clientError(StatusUnavailable, true, ctx.Err(), "handshake interrupted: %v", ctx.Err())
	}
	_ = nc.SetDeadline(time.Time{})
	cn := &conn{client: c, nc: nc, br: br, info: info, maxFrame: c.s.maxFrameSize,
		maxStreams: int(info.maxConcurrentStreams), streams: make(map[uint64]*call),
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	if info.maxFrameSize != 0 && info.maxFrameSize < cn.maxFrame {
		cn.maxFrame = info.maxFrameSize
	}
	return cn, nil
}

// safely runs fn, turning a panic from decoding a malformed buffer into an error.
func safely(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed frame: %v", r)
		}
	}()
	return fn()
}

func (cn *conn) run() {
	c := cn.client
	cn.born = time.Now() // before the goroutines that read it start
	c.wg.Add(2)
	go func() { defer c.wg.Done(); cn.readLoop() }()
	go func() { defer c.wg.Done(); cn.writeLoop() }()
	if cn.info.heartbeat > 0 {
		c.wg.Add(1)
		go func() { defer c.wg.Done(); cn.keepalive(cn.info.heartbeat) }()
	}
}

// keepalive runs when the sidecar announces a heartbeat interval: it sends a Ping every
// interval and drops the connection when nothing at all (a Pong or any other frame) has been
// read for more than three intervals and a Ping has gone unanswered for two (see heartbeat),
// so calls on a hung or stopped sidecar fail (retryable) instead of waiting for deadlines they
// may not have. Silence is measured on the monotonic clock, so a step of the wall clock neither
// drops a live connection nor keeps a dead one.
func (cn *conn) keepalive(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	hb := heartbeat{every: every, lastTick: cn.sinceBorn()}
	for n := uint64(1); ; n++ {
		select {
		case <-cn.done:
			return
		case <-t.C:
		}
		ping, silent := hb.tick(cn.sinceBorn(), time.Duration(cn.lastRead.Load()))
		if silent > 0 {
			cn.close(connectionLost(fmt.Errorf("no frame from the sidecar for %v (heartbeat every %v)",
				silent.Round(time.Millisecond), every)))
			return
		}
		if ping {
			cn.queuePing(n)
		}
	}
}

// sinceBorn is the monotonic time since the connection started, the clock of lastRead.
func (cn *conn) sinceBorn() time.Duration {
	return time.Since(cn.born)
}

// heartbeat decides, tick by tick, when the sidecar counts as gone. The sidecar sends Pongs only
// in answer to Pings, and no Ping leaves while this process is not running (SIGSTOP, a debugger,
// a suspended machine), so silence counts only from when the client listens again, and only a
// Ping left unanswered proves anything. Times are offsets from the connection's start.
type heartbeat struct {
	every     time.Duration
	lastTick  time.Duration
	listening time.Duration // silence counts from the later of this and the last frame read
	asked     time.Duration // when the first Ping after the last frame read went out
	askedOK   bool          // asked holds such a Ping
}

// Intervals of silence, and of a Ping left unanswered, after which the sidecar counts as gone.
const (
	silentIntervals     = 3
	unansweredIntervals = 2
)

// tick returns whether to send a Ping now, or, when the connection is to be given up, for how
// long nothing has been read (0 otherwise).
func (hb *heartbeat) tick(now, lastRead time.Duration) (ping bool, silent time.Duration) {
	if now-hb.lastTick > 2*hb.every {
		// More than an interval late: this process was not running, so it neither pinged nor
		// read. The sidecar had nothing to answer: the silence starts now, with a Ping at once.
		hb.listening, hb.askedOK = now, false
	}
	hb.lastTick = now
	if hb.askedOK && lastRead >= hb.asked {
		hb.askedOK = false // a frame came after the Ping: it was answered
	}
	silent = now - max(lastRead, hb.listening)
	if silent > silentIntervals*hb.every && hb.askedOK && now-hb.asked >= unansweredIntervals*hb.every {
		return false, silent
	}
	if !hb.askedOK {
		hb.asked, hb.askedOK = now, true
	}
	return true, 0
}

func (cn *conn) wakeWriter() {
	select {
	case cn.wake <- struct{}{}:
	default:
	}
}

func (cn *conn) readLoop() {
	var buf []byte
	for {
		var err error
		buf, err = readFrame(cn.br, buf, cn.maxFrame)
		if err == nil {
			cn.lastRead.Store(int64(time.Since(cn.born)))
			err = safely(func() error { return cn.dispatch(buf) })
		}
		if err != nil {
			cn.close(connectionLost(err))
			return
		}
	}
}

func (cn *conn) dispatch(frame []byte) error {
	f, err := parseFrame(frame)
	if err != nil {
		return err
	}
	t, ok := bodyTable(f)
	if !ok {
		return nil // NONE: nothing to act on
	}
	id := f.StreamId()
	if id == 0 {
		return cn.connectionFrame(f.BodyType(), t)
	}
	switch f.BodyType() {
	case wire.BodyResponseStart:
		if cl := cn.lookup(id); cl != nil {
			cl.deliverStart(decodeStart(t))
		}
	case wire.BodyResponseChunk:
		if cl := cn.lookup(id); cl != nil {
			ch := decodeChunk(t)
			for _, d := range ch.ToolCalls {
				// The sidecar sends none past it; the stream sizes its list of calls by the index.
				if d.Index >= maxToolCallIndex {
					return &malformedError{path: []string{"ResponseChunk", "tool_calls", "index"},
						msg: fmt.Sprintf("%d is past the largest the sidecar sends (%d)", d.Index, maxToolCallIndex-1)}
				}
			}
			cl.deliverChunk(ch)
		}
	case wire.BodyResponseEnd:
		resp, e := decodeEnd(t)
		cn.mu.Lock()
		cl := cn.streams[id]
		delete(cn.streams, id)
		drained := cn.draining && len(cn.streams) == 0
		cn.mu.Unlock()
		if cl == nil {
			return nil // a stream we gave up on, or detached after GoAway
		}
		cl.finish(resp, e)
		if drained {
			cn.close(connectionLost(errDrained))
		} else if cn.maxStreams > 0 {
			cn.wakeWriter() // a stream slot is free
		}
	}
	return nil // other bodies on a stream are ignored, as the protocol asks
}

func (cn *conn) lookup(id uint64) *call {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.streams[id]
}

func (cn *conn) connectionFrame(bt wire.Body, t flatbuffers.Table) error {
	switch bt {
	case wire.BodyPing:
		var p wire.Ping
		p.Init(t.Bytes, t.Pos)
		cn.queuePong(p.Opaque())
	case wire.BodyGoAway:
		var g wire.GoAway
		g.Init(t.Bytes, t.Pos)
		cn.goAway(g.LastStreamId())
	case wire.BodyError:
		e := decodeConnError(t)
		return fmt.Errorf("the sidecar closed the connection with %s: %s", e.Status, e.Message)
	}
	return nil
}

// goAway stops new streams on cn. Streams above last were not taken by the sidecar: they go
// back to the front of the client's queue, in order, to be sent on a new connection.
func (cn *conn) goAway(last uint64) {
	c := cn.client
	c.mu.Lock()
	cn.mu.Lock()
	cn.draining = true
	var retry []uint64
	calls := make(map[uint64]*call)
	for id, cl := range cn.streams {
		if id > last {
			delete(cn.streams, id)
			retry = append(retry, id)
			calls[id] = cl
		}
	}
	empty := len(cn.streams) == 0
	cn.mu.Unlock()
	sort.Slice(retry, func(i, j int) bool { return retry[i] < retry[j] })
	for i := len(retry) - 1; i >= 0; i-- {
		c.requeueFrontLocked(calls[retry[i]])
	}
	if c.cur == cn {
		c.cur = nil
	}
	if c.queue.Len() > 0 {
		c.startDialLocked()
	}
	c.mu.Unlock()
	if empty {
		cn.close(connectionLost(errDrained))
	}
}

// queuePong answers a Ping; a Pong still waiting for the writer is replaced by this newer one.
func (cn *conn) queuePong(opaque uint64) {
	pong := encodePong(opaque)
	cn.mu.Lock()
	if !cn.closed {
		cn.ctrl.pong = pong
	}
	cn.mu.Unlock()
	cn.wakeWriter()
}

// queuePing queues a keepalive Ping unless the previous one has not been written yet.
func (cn *conn) queuePing(n uint64) {
	cn.mu.Lock()
	queued := !cn.closed && cn.ctrl.ping == nil
	if queued {
		cn.ctrl.ping = encodePing(n)
	}
	cn.mu.Unlock()
	if queued {
		cn.wakeWriter()
	}
}

// sendCancel tells the sidecar to stop stream id. A stream the sidecar already ended needs no
// Cancel; every other one gets its Cancel, however long the writer is blocked.
func (cn *conn) sendCancel(id uint64, reason string) {
	cancel := encodeCancel(id, reason)
	cn.mu.Lock()
	queued := !cn.closed && cn.streams[id] != nil
	if queued {
		cn.ctrl.cancels = append(cn.ctrl.cancels, cancel)
	}
	cn.mu.Unlock()
	if queued {
		cn.wakeWriter()
	}
}

func (cn *conn) writeLoop() {
	bw := bufio.NewWriterSize(cn.nc, 64<<10)
	for {
		select {
		case <-cn.wake:
		case <-cn.done:
			return
		}
		for {
			frames := cn.collect()
			if len(frames) == 0 {
				break
			}
			for _, f := range frames {
				if _, err := bw.Write(f); err != nil {
					cn.close(connectionLost(err))
					return
				}
			}
			if err := bw.Flush(); err != nil {
				cn.close(connectionLost(err))
				return
			}
		}
	}
}

// collect gathers the next batch to write: pending control frames, then queued calls, which
// get their stream ids here so that ids increase in the order frames reach the socket.
func (cn *conn) collect() [][]byte {
	c := cn.client
	c.mu.Lock()
	defer c.mu.Unlock()
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.closed {
		return nil
	}
	frames := cn.ctrl.take()
	size := 0
	for c.cur == cn && !cn.draining && size < batchMaxLen && c.queue.Len() > 0 {
		if cn.maxStreams > 0 && len(cn.streams) >= cn.maxStreams {
			break
		}
		cl := c.queue.Remove(c.queue.Front()).(*call)
		cl.elem = nil
		if f := cn.assign(cl); f != nil {
			frames = append(frames, f)
			size += len(f)
		}
	}
	return frames
}

// assign gives cl the next stream id and registers it. It returns nil when cl ended while
// queued or cannot be sent. cn.mu must be held.
func (cn *conn) assign(cl *call) []byte {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.state != stateQueued {
		return nil
	}
	if n := len(cl.frame) - 4; n > int(cn.maxFrame) {
		cl.finishLocked(nil, clientError(StatusInvalidArgument, false, nil,
			"request frame of %d bytes exceeds the negotiated max_frame_size %d", n, cn.maxFrame))
		return nil
	}
	if !cl.deadline.IsZero() {
		left := time.Until(cl.deadline)
		if left <= 0 {
			cl.finishLocked(nil, clientError(StatusDeadlineExceeded, false, context.DeadlineExceeded,
				"deadline passed before the request could be sent"))
			return nil
		}
		setRequestTimeout(cl.frame, durationMs(left))
	}
	cn.nextID++
	setStreamID(cl.frame, cn.nextID)
	cl.state, cl.conn, cl.id = stateSent, cn, cn.nextID
	cn.streams[cn.nextID] = cl
	return cl.frame
}

// close shuts cn down once. Calls still registered on it fail with a copy of streamErr.
func (cn *conn) close(streamErr *Error) {
	cn.mu.Lock()
	if cn.closed {
		cn.mu.Unlock()
		return
	}
	cn.closed = true
	streams := cn.streams
	cn.streams = nil
	cn.ctrl = controlQueue{}
	cn.mu.Unlock()
	close(cn.done)
	cn.nc.Close()
	for _, cl := range streams {
		cl.finish(nil, copyError(streamErr))
	}
	cn.client.connGone(cn)
}
