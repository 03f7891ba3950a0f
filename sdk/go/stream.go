package outrigger

import (
	"context"
	"errors"
	"io"
	"strings"
)

// Stream is a streamed answer. Read it with Recv until io.EOF (success) or an *Error. One
// goroutine at a time may call Recv; Close and the methods returning metadata may be called
// from any goroutine.
type Stream struct {
	call *call

	content strings.Builder
	calls   []ToolCall // assembled from ToolCallDelta fragments, by index
	ended   bool
}

var errStreamClosed = errors.New("stream closed by the caller")

// Recv returns the next chunk. At the end of a successful answer it returns io.EOF; Response
// then has the whole answer. A failed call returns an *Error, after the chunks that arrived
// before the failure (for example when the provider's stream was cut).
func (s *Stream) Recv() (*Chunk, error) {
	cl := s.call
	for {
		cl.mu.Lock()
		if len(cl.chunks) > 0 {
			ch := cl.chunks[0]
			cl.chunks[0] = Chunk{}
			cl.chunks = cl.chunks[1:]
			cl.buffered -= chunkBytes(&ch)
			cl.mu.Unlock()
			s.accumulate(&ch)
			return &ch, nil
		}
		if cl.state == stateDone {
			err := cl.err
			cl.mu.Unlock()
			s.ended = true
			if err != nil {
				return nil, err
			}
			return nil, io.EOF
		}
		cl.mu.Unlock()
		<-cl.notify
	}
}

// maxToolCallIndex bounds a streamed tool call's index, as the sidecar does (it sends none past
// it): the stream sizes its list of calls by the index.
const maxToolCallIndex = 1024

func (s *Stream) accumulate(ch *Chunk) {
	s.content.WriteString(ch.Delta)
	for _, d := range ch.ToolCalls {
		for uint32(len(s.calls)) <= d.Index {
			s.calls = append(s.calls, ToolCall{})
		}
		tc := &s.calls[d.Index]
		if d.ID != "" {
			tc.ID = d.ID
		}
		if d.Type != "" {
			tc.Type = d.Type
		}
		if d.Name != "" {
			tc.Name = d.Name
		}
		tc.Arguments += d.Arguments
	}
}

// Start returns what the sidecar said when the answer began (model, provider, trace id), or
// nil if that has not arrived yet.
func (s *Stream) Start() *StreamStart {
	s.call.mu.Lock()
	defer s.call.mu.Unlock()
	if s.call.start == nil {
		return nil
	}
	st := *s.call.start
	return &st
}

// Response returns the finished answer once Recv has returned io.EOF, and nil before that or
// after a failure. Content and tool calls are assembled from the chunks Recv returned.
func (s *Stream) Response() *Response {
	if !s.ended {
		return nil
	}
	s.call.mu.Lock()
	end, start := s.call.resp, s.call.start
	s.call.mu.Unlock()
	if end == nil {
		return nil
	}
	r := *end
	if r.Content == "" {
		r.Content = s.content.String()
	}
	if len(r.ToolCalls) == 0 && len(s.calls) > 0 {
		r.ToolCalls = append([]ToolCall(nil), s.calls...)
	}
	if start != nil {
		r.Provider = start.Provider
		r.CacheHit = r.CacheHit || start.CacheHit
		if r.Model == "" {
			r.Model = start.Model
		}
		if r.TraceID == "" {
			r.TraceID = start.TraceID
		}
		if r.SystemFingerprint == "" {
			r.SystemFingerprint = start.SystemFingerprint
		}
		if r.ServiceTier == "" {
			r.ServiceTier = start.ServiceTier
		}
	}
	return &r
}

// Close cancels the stream if it has not ended: the sidecar gets a Cancel frame and Recv
// returns a CANCELLED *Error. It is safe to call more than once and after the end.
func (s *Stream) Close() error {
	s.call.abort(clientError(StatusCancelled, false, context.Canceled, "%v", errStreamClosed),
		"stream closed by the caller")
	return nil
}

// Done is closed when the stream has ended, successfully or not.
func (s *Stream) Done() <-chan struct{} { return s.call.done }
