package outrigger

import (
	"container/list"
	"sync"
	"time"
	"unsafe"
)

type callState uint8

const (
	stateQueued callState = iota // in the client's queue, not written to any socket
	stateSent                    // registered on a connection under a stream id
	stateDone                    // finished: result or error set, done closed
)

// call is one stream (a request or a feedback) from submission to its end. It moves between
// the client's queue and a connection: a call sent on a connection that answered GoAway
// without taking it goes back to the queue and is written again on the next connection.
//
// Locking: Client.mu, then conn.mu, then call.mu. Fields above mu are set before the call is
// shared and never change, except frame and elem, which are guarded by Client.mu.
type call struct {
	client   *Client
	stream   bool      // a streamed request: chunks are buffered for Recv
	deadline time.Time // refreshes the Request's timeout_ms when written; zero for none

	frame    []byte        // the encoded frame; its stream id is set when written
	elem     *list.Element // position in Client.queue while queued
	enqueued time.Time

	mu       sync.Mutex
	state    callState
	conn     *conn
	id       uint64
	start    *StreamStart
	chunks   []Chunk
	buffered int // bytes held by chunks (chunkBytes), bounded by the client's stream buffer
	resp     *Response
	err      *Error
	stops    []func() bool // timers and context hooks to release at the end
	notify   chan struct{} // capacity 1: something new for Recv
	done     chan struct{} // closed when the call finishes
}

func newCall(c *Client, frame []byte, stream bool) *call {
	return &call{client: c, frame: frame, stream: stream,
		notify: make(chan struct{}, 1), done: make(chan struct{})}
}

func (cl *call) signal() {
	select {
	case cl.notify <- struct{}{}:
	default:
	}
}

// addStop registers a release function, or runs it at once if the call already ended.
func (cl *call) addStop(stop func() bool) {
	cl.mu.Lock()
	if cl.state == stateDone {
		cl.mu.Unlock()
		stop()
		return
	}
	cl.stops = append(cl.stops, stop)
	cl.mu.Unlock()
}

// finishLocked ends the call once; later results are ignored. cl.mu must be held.
func (cl *call) finishLocked(resp *Response, err *Error) bool {
	if cl.state == stateDone {
		return false
	}
	cl.state = stateDone
	cl.resp, cl.err = resp, err
	for _, stop := range cl.stops {
		stop() // neither timers nor context.AfterFunc wait for a running callback
	}
	cl.stops = nil
	close(cl.done)
	cl.signal()
	return true
}

func (cl *call) finish(resp *Response, err *Error) bool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.finishLocked(resp, err)
}

func (cl *call) deliverStart(s StreamStart) {
	cl.mu.Lock()
	if cl.state != stateDone {
		cl.start = &s
		cl.signal()
	}
	cl.mu.Unlock()
}

// deliverChunk buffers a chunk for Recv. When the caller lets more than the client's stream
// buffer pile up, the stream is cancelled on the sidecar and fails with RESOURCE_EXHAUSTED, so
// a stream nobody reads cannot hold unbounded memory; the connection and other streams go on.
// A chunk that finds the buffer empty is always taken, so a caller keeping up never fails.
func (cl *call) deliverChunk(ch Chunk) {
	cl.mu.Lock()
	if cl.state == stateDone || !cl.stream {
		cl.mu.Unlock()
		return
	}
	size := chunkBytes(&ch)
	if limit := cl.client.s.maxStreamBuffer; cl.buffered > 0 && cl.buffered+size > limit {
		buffered := cl.buffered + size
		cl.mu.Unlock()
		cl.abort(clientError(StatusResourceExhausted, false, nil,
			"the caller did not read the stream fast enough (%d bytes buffered, limit %d)",
			buffered, limit), "the client's buffer for the stream is full")
		return
	}
	cl.buffered += size
	cl.chunks = append(cl.chunks, ch)
	cl.signal()
	cl.mu.Unlock()
}

// chunkBytes is the memory a buffered chunk holds: its structs and the text they point to.
func chunkBytes(ch *Chunk) int {
	n := int(unsafe.Sizeof(*ch)) + len(ch.Delta)
	for i := range ch.ToolCalls {
		d := &ch.ToolCalls[i]
		n += int(unsafe.Sizeof(*d)) + len(d.ID) + len(d.Type) + len(d.Name) + len(d.Arguments)
	}
	return n
}

// abort ends the call locally with err. A call already written to the sidecar gets a Cancel
// frame, so the sidecar stops its work; one still queued is taken out of the queue.
func (cl *call) abort(err *Error, reason string) {
	cl.mu.Lock()
	prev, cn, id := cl.state, cl.conn, cl.id
	if !cl.finishLocked(nil, err) {
		cl.mu.Unlock()
		return
	}
	cl.chunks, cl.buffered = nil, 0 // the call is over: pending chunks are of no use any more
	cl.mu.Unlock()
	switch prev {
	case stateSent:
		cn.sendCancel(id, reason)
	case stateQueued:
		cl.client.dequeue(cl)
	}
}

// result waits for the end of the call.
func (cl *call) result() (*Response, *Error) {
	<-cl.done
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.resp, cl.err
}

// copyError gives each failed call its own *Error, so callers may keep or change it freely.
func copyError(e *Error) *Error {
	c := *e
	return &c
}
