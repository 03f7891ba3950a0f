package outrigger

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"time"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/outrigger-dev/outrigger/sdk/go/wire"
)

// Frame reading and decoding. Everything decoded is copied into Go values, so the read buffer
// can be reused for the next frame.

const (
	minFrameSize = 8        // root offset + file identifier
	hardMaxFrame = 64 << 20 // the protocol's cap on any negotiated size
)

// frameSizeError is a length prefix outside [minFrameSize, limit]. The stream cannot be
// resynchronised after it, so the connection is dropped.
type frameSizeError struct{ size, limit uint32 }

func (e *frameSizeError) Error() string {
	if e.size < minFrameSize {
		return fmt.Sprintf("frame length %d is below the minimum of %d bytes", e.size, minFrameSize)
	}
	return fmt.Sprintf("frame length %d exceeds the negotiated max_frame_size %d", e.size, e.limit)
}

// readFrame reads one size-prefixed frame into buf (grown as needed) and returns it, prefix
// included. The length is checked against limit before anything is allocated. Go allocates
// byte slices of 8 bytes or more with at least 8-byte alignment, as the protocol asks.
func readFrame(r io.Reader, buf []byte, limit uint32) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return buf, err
	}
	n := binary.LittleEndian.Uint32(hdr[:])
	if n < minFrameSize || n > limit {
		return buf, &frameSizeError{size: n, limit: limit}
	}
	total := int(n) + 4
	if cap(buf) < total {
		buf = make([]byte, total, total+total/4)
	}
	buf = buf[:total]
	copy(buf, hdr[:])
	if _, err := io.ReadFull(r, buf[4:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return buf, err
	}
	return buf, nil
}

// parseFrame checks the file identifier and the layout of every table, string and vector the
// client reads (checkFrame), and returns the root Frame of a size-prefixed buffer. An error
// here is a protocol error: the connection is dropped. The recover in safely stays as a second
// line of defence.
func parseFrame(frame []byte) (*wire.Frame, error) {
	if len(frame) < 4+minFrameSize {
		return nil, fmt.Errorf("frame of %d bytes is too short", len(frame))
	}
	if string(frame[8:12]) != string(fileIdentifier) {
		return nil, fmt.Errorf("frame has file identifier %q, want %q", frame[8:12], fileIdentifier)
	}
	if err := checkFrame(frame); err != nil {
		return nil, err
	}
	return wire.GetSizePrefixedRootAsFrame(frame, 0), nil
}

// bodyTable returns the union member of f as a table.
func bodyTable(f *wire.Frame) (flatbuffers.Table, bool) {
	var t flatbuffers.Table
	ok := f.Body(&t)
	return t, ok
}

func decodeToolCall(tc *wire.ToolCall) ToolCall {
	return ToolCall{ID: string(tc.Id()), Type: string(tc.Type()), Name: string(tc.Name()),
		Arguments: string(tc.Arguments())}
}

func decodeStart(t flatbuffers.Table) StreamStart {
	var s wire.ResponseStart
	s.Init(t.Bytes, t.Pos)
	return StreamStart{Model: string(s.Model()), Provider: string(s.Provider()),
		CacheHit: s.CacheHit(), TraceID: string(s.TraceId()),
		SystemFingerprint: string(s.SystemFingerprint()), ServiceTier: string(s.ServiceTier())}
}

func decodeChunk(t flatbuffers.Table) Chunk {
	var c wire.ResponseChunk
	c.Init(t.Bytes, t.Pos)
	out := Chunk{Seq: c.Seq(), Delta: string(c.Delta()), Refusal: c.Refusal()}
	if n := c.ToolCallsLength(); n > 0 {
		out.ToolCalls = make([]ToolCallDelta, n)
		var d wire.ToolCallDelta
		for i := 0; i < n; i++ {
			c.ToolCalls(&d, i)
			out.ToolCalls[i] = ToolCallDelta{Index: d.Index(), ID: string(d.Id()),
				Type: string(d.Type()), Name: string(d.Name()), Arguments: string(d.Arguments())}
		}
	}
	return out
}

// decodeEnd turns a ResponseEnd into the call's result: a Response for OK, an *Error otherwise.
func decodeEnd(t flatbuffers.Table) (*Response, *Error) {
	var e wire.ResponseEnd
	e.Init(t.Bytes, t.Pos)
	if st := Status(e.Status()); st != StatusOK {
		return nil, &Error{
			Status:          st,
			Retryable:       e.Retryable(),
			RetryAfter:      time.Duration(e.RetryAfterMs()) * time.Millisecond,
			Origin:          string(e.Origin()),
			Message:         string(e.Message()),
			TraceID:         string(e.TraceId()),
			ReachedProvider: e.ReachedProvider(),
			Verdicts:        decodeVerdicts(&e),
		}
	}
	r := &Response{
		Content:           string(e.Content()),
		FinishReason:      string(e.FinishReason()),
		CostUSD:           e.CostUsd(),
		CacheHit:          e.CacheHit(),
		TraceID:           string(e.TraceId()),
		Model:             string(e.Model()),
		Origin:            string(e.Origin()),
		ReachedProvider:   e.ReachedProvider(),
		Refusal:           e.Refusal(),
		SystemFingerprint: string(e.SystemFingerprint()),
		ServiceTier:       string(e.ServiceTier()),
	}
	if n := e.ToolCallsLength(); n > 0 {
		r.ToolCalls = make([]ToolCall, n)
		var tc wire.ToolCall
		for i := 0; i < n; i++ {
			e.ToolCalls(&tc, i)
			r.ToolCalls[i] = decodeToolCall(&tc)
		}
	}
	if u := e.Usage(nil); u != nil {
		r.Usage = Usage{PromptTokens: u.PromptTokens(), CompletionTokens: u.CompletionTokens(),
			CachedTokens: u.CachedTokens(), ReasoningTokens: u.ReasoningTokens(), CacheWriteTokens: u.CacheWriteTokens()}
	}
	r.Verdicts = decodeVerdicts(&e)
	return r, nil
}

// decodeVerdicts reads the guardrails' verdicts of an end, OK or not; nil when there are none.
func decodeVerdicts(e *wire.ResponseEnd) []GuardrailVerdict {
	n := e.VerdictsLength()
	if n == 0 {
		return nil
	}
	out := make([]GuardrailVerdict, n)
	var v wire.GuardrailVerdict
	for i := 0; i < n; i++ {
		e.Verdicts(&v, i)
		out[i] = GuardrailVerdict{Guardrail: string(v.Guardrail()),
			Verdict: Verdict(v.Verdict()), Reason: string(v.Reason())}
	}
	return out
}

// serverInfo is what the sidecar announced in HelloAck.
type serverInfo struct {
	protoMajor, protoMinor uint16
	serverVersion          string
	maxFrameSize           uint32
	maxConcurrentStreams   uint32
	features               wire.Feature
	heartbeat              time.Duration
}

func decodeHelloAck(t flatbuffers.Table) serverInfo {
	var a wire.HelloAck
	a.Init(t.Bytes, t.Pos)
	return serverInfo{
		protoMajor: a.ProtoMajor(), protoMinor: a.ProtoMinor(),
		serverVersion: string(a.ServerVersion()), maxFrameSize: a.MaxFrameSize(),
		maxConcurrentStreams: a.MaxConcurrentStreams(), features: a.Features(),
		heartbeat: time.Duration(a.HeartbeatMs()) * time.Millisecond,
	}
}

// decodeConnError turns a connection-level Error frame into an *Error.
func decodeConnError(t flatbuffers.Table) *Error {
	var e wire.Error
	e.Init(t.Bytes, t.Pos)
	msg := string(e.Message())
	if lo, hi := e.SupportedMajorMin(), e.SupportedMajorMax(); lo != 0 || hi != 0 {
		msg = fmt.Sprintf("%s (sidecar supports protocol major %d..%d, this SDK speaks %d)",
			msg, lo, hi, protoMajor)
	}
	return &Error{Status: Status(e.Status()), Origin: "sidecar", Message: msg}
}

// durationMs converts d to whole milliseconds for the wire, rounding up so that a positive
// duration never becomes 0 ("default"), and clamping to the field's range.
func durationMs(d time.Duration) uint32 {
	if d <= 0 {
		return 0
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if ms > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(ms)
}
