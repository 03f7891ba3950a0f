package outrigger

import (
	"container/list"
	"context"
	"math/rand"
	"sync"
	"time"

	"github.com/outrigger-dev/outrigger/sdk/go/wire"
)

// Client talks to the Outrigger sidecar over one Unix-socket connection, on which any number
// of calls run concurrently. It is safe for concurrent use; create one per process and share it.
//
// The client connects lazily (or at once with Dial) and reconnects by itself: after the sidecar
// sends GoAway (it is shutting down or restarting) new calls go to a new connection, and calls
// the old connection had not taken are sent again there. Calls already sent on a connection
// that breaks fail with a retryable UNAVAILABLE *Error; the SDK never resends those itself,
// since the sidecar may have acted on them.
type Client struct {
	s      settings
	hello  []byte
	ctx    context.Context // cancelled by Close; bounds connection attempts
	cancel context.CancelFunc
	wg     sync.WaitGroup // connection goroutines and the dial loop

	mu      sync.Mutex
	closed  bool
	cur     *conn // the connection taking new calls, nil while none
	conns   map[*conn]struct{}
	dialing bool
	queue   list.List // *call, waiting for a connection's writer
}

// New returns a client that connects on its first call. Use Dial to connect at once and learn
// about a missing sidecar early.
func New(opts ...Option) (*Client, error) {
	s := defaultSettings()
	for _, o := range opts {
		o(&s)
	}
	if err := s.resolve(); err != nil {
		return nil, err
	}
	c := &Client{s: s, conns: make(map[*conn]struct{})}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.hello = encodeHello(helloSettings{
		protoMajor: protoMajor, protoMinor: protoMinor,
		clientName: s.clientName, clientVersion: s.clientVersion, sdkLanguage: "go",
		maxFrameSize: s.maxFrameSize,
		features:     wire.FeatureStreaming | wire.FeatureCancel | wire.FeatureFeedback | wire.FeatureGoAway,
	})
	return c, nil
}

// Dial returns a connected client. It fails with an *Error when the sidecar cannot be reached
// (UNAVAILABLE) or refuses the handshake (for example FAILED_PRECONDITION on a protocol
// version mismatch).
func Dial(ctx context.Context, opts ...Option) (*Client, error) {
	c, err := New(opts...)
	if err != nil {
		return nil, err
	}
	cn, e := c.connect(ctx)
	if e != nil {
		c.Close()
		return nil, e
	}
	c.mu.Lock()
	c.adoptLocked(cn)
	c.mu.Unlock()
	return c, nil
}

// SocketPath returns the socket the next connection attempt goes to. Without WithSocketPath or
// $OUTRIGGER_SOCKET, the default candidates are looked at again for every attempt, so a
// sidecar that starts after the client is still found.
func (c *Client) SocketPath() string {
	if c.s.socketPath != "" {
		return c.s.socketPath
	}
	return firstSocket(DefaultSocketCandidates())
}

// VerifiesServer reports whether connections check the server's uid before sending anything
// (see WithVerifyServer).
func (c *Client) VerifiesServer() bool { return c.s.verify }

// Chat sends req and waits for the whole answer. A failed call returns an *Error.
//
// The call ends when the sidecar answers, when ctx is done (the sidecar is then told to stop
// with a Cancel frame) or when the timeout passes: ctx's deadline and req.Timeout (or the
// client's default timeout), whichever is earlier, are also sent as the Request's timeout_ms.
func (c *Client) Chat(ctx context.Context, req *Request) (*Response, error) {
	cl, err := c.startRequest(ctx, req, false)
	if err != nil {
		return nil, err
	}
	resp, e := cl.result()
	if e != nil {
		return nil, e
	}
	return resp, nil
}

// ChatStream sends req as a streamed call and returns at once; read the answer with
// Stream.Recv. Deadlines and cancellation work as for Chat, for the whole life of the stream.
// Close the stream if you stop reading before io.EOF.
func (c *Client) ChatStream(ctx context.Context, req *Request) (*Stream, error) {
	cl, err := c.startRequest(ctx, req, true)
	if err != nil {
		return nil, err
	}
	return &Stream{call: cl}, nil
}

// Feedback scores the answer with the given trace id (Response.TraceID) and waits for the
// sidecar to acknowledge it.
func (c *Client) Feedback(ctx context.Context, traceID string, score float64, comment string) error {
	return c.SendFeedback(ctx, Feedback{TraceID: traceID, Score: score, Comment: comment})
}

// SendFeedback is Feedback with per-call metadata.
func (c *Client) SendFeedback(ctx context.Context, fb Feedback) error {
	if err := ctx.Err(); err != nil {
		return contextError(ctx)
	}
	frame := encodeFeedback(placeholderStreamID, &fb, c.s.defaultMetadata.merge(fb.Metadata))
	cl := newCall(c, frame, false)
	if t := c.s.defaultTimeout; t > 0 {
		c.armTimer(cl, t+c.s.deadlineGrace)
	}
	if e := c.submit(ctx, cl); e != nil {
		return e
	}
	if _, e := cl.result(); e != nil {
		return e
	}
	return nil
}

func (c *Client) startRequest(ctx context.Context, req *Request, stream bool) (*call, error) {
	if req == nil {
		return nil, clientError(StatusInvalidArgument, false, nil, "nil request")
	}
	if err := ctx.Err(); err != nil {
		return nil, contextError(ctx)
	}
	now := time.Now()
	deadline, fromTimeout := c.deadlineOf(ctx, req.Timeout, now)
	var timeoutMs uint32
	if !deadline.IsZero() {
		left := deadline.Sub(now)
		if left <= 0 {
			return nil, clientError(StatusDeadlineExceeded, false, context.DeadlineExceeded,
				"deadline passed before the request was sent")
		}
		timeoutMs = durationMs(left)
	}
	frame := encodeRequest(placeholderStreamID, req, c.s.defaultMetadata.merge(req.Metadata), stream, timeoutMs)
	cl := newCall(c, frame, stream)
	cl.deadline = deadline
	if fromTimeout {
		// The sidecar enforces the timeout; this timer only keeps the caller from waiting
		// forever when the sidecar cannot answer.
		c.armTimer(cl, deadline.Sub(now)+c.s.deadlineGrace)
	}
	if e := c.submit(ctx, cl); e != nil {
		return nil, e
	}
	return cl, nil
}

// deadlineOf returns the earlier of ctx's deadline and now+timeout (timeout falling back to the
// client default), and whether the timeout was the earlier one.
func (c *Client) deadlineOf(ctx context.Context, timeout time.Duration, now time.Time) (time.Time, bool) {
	if timeout <= 0 {
		timeout = c.s.defaultTimeout
	}
	dl, hasDl := ctx.Deadline()
	if timeout > 0 {
		if t := now.Add(timeout); !hasDl || t.Before(dl) {
			return t, true
		}
	}
	if hasDl {
		return dl, false
	}
	return time.Time{}, false
}

func (c *Client) armTimer(cl *call, d time.Duration) {
	t := time.AfterFunc(d, func() {
		cl.abort(clientError(StatusDeadlineExceeded, false, context.DeadlineExceeded,
			"the sidecar did not answer within the timeout"), "deadline exceeded")
	})
	cl.addStop(t.Stop)
}

// submit hooks ctx to cl and puts cl in the queue. It fails at once when the client is closed
// or the queue is full.
func (c *Client) submit(ctx context.Context, cl *call) *Error {
	if ctx.Done() != nil {
		cl.addStop(context.AfterFunc(ctx, func() { cl.abort(contextError(ctx), "cancelled by the caller") }))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var e *Error
	switch {
	case c.closed:
		e = closedError()
	case c.queue.Len() >= c.s.queueSize:
		e = clientError(StatusResourceExhausted, true, nil,
			"outgoing queue full (%d calls waiting for the sidecar)", c.queue.Len())
	}
	if e != nil {
		cl.finish(nil, e)
		return e
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.state != stateQueued { // the context ended while we got here
		return cl.err
	}
	cl.enqueued = time.Now()
	cl.elem = c.queue.PushBack(cl)
	if c.cur != nil {
		c.cur.wakeWriter()
	} else {
		c.startDialLocked()
	}
	return nil
}

// dequeue removes a call that ended while queued.
func (c *Client) dequeue(cl *call) {
	c.mu.Lock()
	if cl.elem != nil {
		c.queue.Remove(cl.elem)
		cl.elem = nil
	}
	c.mu.Unlock()
}

// requeueFrontLocked puts back a call a connection did not take (GoAway). It gets a private
// copy of its frame: the old connection's writer may still be reading the old one.
func (c *Client) requeueFrontLocked(cl *call) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.state != stateSent || c.closed {
		if cl.state == stateSent {
			cl.finishLocked(nil, closedError())
		}
		return
	}
	cl.state, cl.conn, cl.id = stateQueued, nil, 0
	cl.frame = append([]byte(nil), cl.frame...)
	cl.elem = c.queue.PushFront(cl)
}

func (c *Client) adoptLocked(cn *conn) {
	if c.closed {
		cn.nc.Close() // its goroutines never started
		return
	}
	c.cur = cn
	c.conns[cn] = struct{}{}
	cn.run()
	cn.wakeWriter()
}

// connGone forgets a closed connection and reconnects if calls are waiting.
func (c *Client) connGone(cn *conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.conns, cn)
	if c.cur == cn {
		c.cur = nil
	}
	if c.queue.Len() > 0 {
		c.startDialLocked()
	}
}

func (c *Client) startDialLocked() {
	if c.dialing || c.closed || c.cur != nil {
		return
	}
	c.dialing = true
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.dialLoop()
	}()
}

// dialLoop connects with exponential backoff while calls are waiting. Calls that waited longer
// than the connect wait fail with the last connection error; a sidecar that refuses the
// handshake fails them all at once.
func (c *Client) dialLoop() {
	backoff := 10 * time.Millisecond
	for {
		cn, e := c.connect(c.ctx)
		c.mu.Lock()
		if c.closed {
			c.dialing = false
			c.mu.Unlock()
			if cn != nil {
				cn.nc.Close()
			}
			return
		}
		if e == nil {
			c.dialing = false
			c.adoptLocked(cn)
			c.mu.Unlock()
			return
		}
		now := time.Now()
		for el := c.queue.Front(); el != nil; {
			next := el.Next()
			cl := el.Value.(*call)
			if !e.Retryable || now.Sub(cl.enqueued) >= c.s.connectWait {
				c.queue.Remove(el)
				cl.elem = nil
				cl.finish(nil, copyError(e))
			}
			el = next
		}
		if c.queue.Len() == 0 {
			c.dialing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		sleep := backoff/2 + time.Duration(rand.Int63n(int64(backoff/2)+1))
		select {
		case <-time.After(sleep):
		case <-c.ctx.Done():
		}
		if backoff *= 2; backoff > time.Second {
			backoff = time.Second
		}
	}
}

func closedError() *Error {
	return clientError(StatusCancelled, false, ErrClientClosed, "client closed")
}

// Close fails every call still queued or in flight with a CANCELLED *Error wrapping
// ErrClientClosed, closes the connections and waits for the client's goroutines to exit.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.cancel()
	var queued []*call
	for el := c.queue.Front(); el != nil; el = el.Next() {
		cl := el.Value.(*call)
		cl.elem = nil
		queued = append(queued, cl)
	}
	c.queue.Init()
	conns := make([]*conn, 0, len(c.conns))
	for cn := range c.conns {
		conns = append(conns, cn)
	}
	c.cur = nil
	c.mu.Unlock()
	for _, cl := range queued {
		cl.finish(nil, closedError())
	}
	for _, cn := range conns {
		cn.close(closedError())
	}
	c.wg.Wait()
	return nil
}
