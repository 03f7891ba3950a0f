// Package wiredesc prints the canonical description of a wire frame, the JSON form that the
// shared test vectors in schemas/vectors use (see the README there). Every SDK produces the
// same description for the same frame; the tests compare descriptions, never bytes.
package wiredesc

import (
	"encoding/binary"
	"fmt"
	"strconv"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/outrigger-dev/outrigger/sdk/go/wire"
)

// Object is one described table: field name to value.
type Object = map[string]any

// Describe returns the description of a size-prefixed frame. It fails on a frame whose length
// prefix disagrees with the buffer, whose identifier is not "ORG1", or that cannot be read.
func Describe(frame []byte) (desc Object, err error) {
	if len(frame) < 12 {
		return nil, fmt.Errorf("frame of %d bytes is too short", len(frame))
	}
	if n := binary.LittleEndian.Uint32(frame); int(n) != len(frame)-4 {
		return nil, fmt.Errorf("length prefix %d, but %d bytes follow it", n, len(frame)-4)
	}
	if id := string(frame[8:12]); id != "ORG1" {
		return nil, fmt.Errorf("file identifier %q, want \"ORG1\"", id)
	}
	defer func() {
		if r := recover(); r != nil {
			desc, err = nil, fmt.Errorf("malformed frame: %v", r)
		}
	}()
	f := wire.GetSizePrefixedRootAsFrame(frame, 0)
	desc = Object{"stream_id": f.StreamId()}
	bt := f.BodyType()
	name, known := wire.EnumNamesBody[bt]
	if !known {
		desc["body_type"] = "UNKNOWN:" + strconv.Itoa(int(bt))
		return desc, nil
	}
	desc["body_type"] = name
	var t flatbuffers.Table
	if bt == wire.BodyNONE || !f.Body(&t) {
		return desc, nil
	}
	desc["body"] = describeBody(bt, t)
	return desc, nil
}

// present reports whether field number i (in schema order) is stored in the table.
func present(t flatbuffers.Table, i int) bool {
	return t.Offset(flatbuffers.VOffsetT(4+2*i)) != 0
}

// setStr stores a string that is present in the buffer (a nil slice means absent).
func setStr(o Object, key string, v []byte) {
	if v != nil {
		o[key] = string(v)
	}
}

func enumName[E ~int8 | ~int32](names map[E]string, v E) any {
	if n, ok := names[v]; ok {
		return n
	}
	return int64(v)
}

func describeBody(bt wire.Body, t flatbuffers.Table) Object {
	switch bt {
	case wire.BodyHello:
		var h wire.Hello
		h.Init(t.Bytes, t.Pos)
		o := Object{"proto_major": h.ProtoMajor(), "proto_minor": h.ProtoMinor(),
			"max_frame_size": h.MaxFrameSize(), "features": uint64(h.Features())}
		setStr(o, "client_name", h.ClientName())
		setStr(o, "client_version", h.ClientVersion())
		setStr(o, "sdk_language", h.SdkLanguage())
		return o
	case wire.BodyHelloAck:
		var a wire.HelloAck
		a.Init(t.Bytes, t.Pos)
		o := Object{"proto_major": a.ProtoMajor(), "proto_minor": a.ProtoMinor(),
			"max_frame_size": a.MaxFrameSize(), "max_concurrent_streams": a.MaxConcurrentStreams(),
			"features": uint64(a.Features()), "heartbeat_ms": a.HeartbeatMs()}
		setStr(o, "server_version", a.ServerVersion())
		return o
	case wire.BodyRequest:
		var r wire.Request
		r.Init(t.Bytes, t.Pos)
		return describeRequest(&r)
	case wire.BodyResponseStart:
		var s wire.ResponseStart
		s.Init(t.Bytes, t.Pos)
		o := Object{"cache_hit": s.CacheHit()}
		setStr(o, "model", s.Model())
		setStr(o, "provider", s.Provider())
		setStr(o, "trace_id", s.TraceId())
		setStr(o, "system_fingerprint", s.SystemFingerprint())
		setStr(o, "service_tier", s.ServiceTier())
		return o
	case wire.BodyResponseChunk:
		var c wire.ResponseChunk
		c.Init(t.Bytes, t.Pos)
		return describeChunk(&c)
	case wire.BodyResponseEnd:
		var e wire.ResponseEnd
		e.Init(t.Bytes, t.Pos)
		return describeEnd(&e)
	case wire.BodyCancel:
		var c wire.Cancel
		c.Init(t.Bytes, t.Pos)
		o := Object{}
		setStr(o, "reason", c.Reason())
		return o
	case wire.BodyFeedback:
		var f wire.Feedback
		f.Init(t.Bytes, t.Pos)
		o := Object{"score": f.Score()}
		setStr(o, "trace_id", f.TraceId())
		setStr(o, "comment", f.Comment())
		if m := f.Metadata(nil); m != nil {
			o["metadata"] = describeMetadata(m)
		}
		return o
	case wire.BodyError:
		var e wire.Error
		e.Init(t.Bytes, t.Pos)
		o := Object{"status": enumName(wire.EnumNamesStatus, e.Status()),
			"supported_major_min": e.SupportedMajorMin(), "supported_major_max": e.SupportedMajorMax()}
		setStr(o, "message", e.Message())
		return o
	case wire.BodyPing:
		var p wire.Ping
		p.Init(t.Bytes, t.Pos)
		return Object{"opaque": p.Opaque()}
	case wire.BodyPong:
		var p wire.Pong
		p.Init(t.Bytes, t.Pos)
		return Object{"opaque": p.Opaque()}
	case wire.BodyGoAway:
		var g wire.GoAway
		g.Init(t.Bytes, t.Pos)
		o := Object{"last_stream_id": g.LastStreamId(), "drain_ms": g.DrainMs()}
		setStr(o, "reason", g.Reason())
		return o
	}
	return Object{}
}

func describeToolCall(tc *wire.ToolCall) Object {
	o := Object{}
	setStr(o, "id", tc.Id())
	setStr(o, "type", tc.Type())
	setStr(o, "name", tc.Name())
	setStr(o, "arguments", tc.Arguments())
	return o
}

func describeRequest(r *wire.Request) Object {
	o := Object{"stream": r.Stream(), "timeout_ms": r.TimeoutMs()}
	setStr(o, "model", r.Model())
	if present(r.Table(), 1) {
		msgs := make([]any, r.MessagesLength())
		var m wire.Message
		for i := range msgs {
			r.Messages(&m, i)
			mo := Object{}
			setStr(mo, "role", m.Role())
			setStr(mo, "content", m.Content())
			setStr(mo, "name", m.Name())
			if present(m.Table(), 3) {
				calls := make([]any, m.ToolCallsLength())
				var tc wire.ToolCall
				for j := range calls {
					m.ToolCalls(&tc, j)
					calls[j] = describeToolCall(&tc)
				}
				mo["tool_calls"] = calls
			}
			setStr(mo, "tool_call_id", m.ToolCallId())
			msgs[i] = mo
		}
		o["messages"] = msgs
	}
	if p := r.Params(nil); p != nil {
		o["params"] = describeParams(p)
	}
	if m := r.Metadata(nil); m != nil {
		o["metadata"] = describeMetadata(m)
	}
	if c := r.Cache(nil); c != nil {
		o["cache"] = Object{"bypass": c.Bypass(), "no_store": c.NoStore(), "ttl_ms": c.TtlMs()}
	}
	return o
}

func describeParams(p *wire.Params) Object {
	o := Object{}
	if v := p.Temperature(); v != nil {
		o["temperature"] = float64(*v)
	}
	if v := p.TopP(); v != nil {
		o["top_p"] = float64(*v)
	}
	if v := p.MaxTokens(); v != nil {
		o["max_tokens"] = *v
	}
	if v := p.Seed(); v != nil {
		o["seed"] = *v
	}
	if present(p.Table(), 4) {
		stop := make([]any, p.StopLength())
		for i := range stop {
			stop[i] = string(p.Stop(i))
		}
		o["stop"] = stop
	}
	if present(p.Table(), 5) {
		tools := make([]any, p.ToolsLength())
		var t wire.Tool
		for i := range tools {
			p.Tools(&t, i)
			to := Object{}
			setStr(to, "type", t.Type())
			setStr(to, "name", t.Name())
			setStr(to, "description", t.Description())
			setStr(to, "parameters_json", t.ParametersJson())
			tools[i] = to
		}
		o["tools"] = tools
	}
	setStr(o, "tool_choice", p.ToolChoice())
	if rf := p.ResponseFormat(nil); rf != nil {
		ro := Object{"type": enumName(wire.EnumNamesResponseFormatType, rf.Type()), "strict": rf.Strict()}
		setStr(ro, "schema_name", rf.SchemaName())
		setStr(ro, "schema_json", rf.SchemaJson())
		o["response_format"] = ro
	}
	setStr(o, "extra_json", p.ExtraJson())
	return o
}

func describeMetadata(m *wire.Metadata) Object {
	o := Object{}
	setStr(o, "tenant", m.Tenant())
	setStr(o, "user", m.User())
	setStr(o, "session", m.Session())
	setStr(o, "request_id", m.RequestId())
	setStr(o, "prompt_id", m.PromptId())
	setStr(o, "prompt_version", m.PromptVersion())
	if present(m.Table(), 6) {
		tags := make([]any, m.TagsLength())
		var t wire.Tag
		for i := range tags {
			m.Tags(&t, i)
			to := Object{}
			setStr(to, "key", t.Key())
			setStr(to, "value", t.Value())
			tags[i] = to
		}
		o["tags"] = tags
	}
	setStr(o, "traceparent", m.Traceparent())
	return o
}

func describeChunk(c *wire.ResponseChunk) Object {
	o := Object{"seq": c.Seq(), "refusal": c.Refusal()}
	setStr(o, "delta", c.Delta())
	if present(c.Table(), 2) {
		calls := make([]any, c.ToolCallsLength())
		var d wire.ToolCallDelta
		for i := range calls {
			c.ToolCalls(&d, i)
			do := Object{"index": d.Index()}
			setStr(do, "id", d.Id())
			setStr(do, "type", d.Type())
			setStr(do, "name", d.Name())
			setStr(do, "arguments", d.Arguments())
			calls[i] = do
		}
		o["tool_calls"] = calls
	}
	return o
}

func describeEnd(e *wire.ResponseEnd) Object {
	o := Object{"status": enumName(wire.EnumNamesStatus, e.Status()), "retryable": e.Retryable(),
		"retry_after_ms": e.RetryAfterMs(), "cost_usd": e.CostUsd(), "cache_hit": e.CacheHit(),
		"reached_provider": e.ReachedProvider(), "refusal": e.Refusal()}
	setStr(o, "origin", e.Origin())
	setStr(o, "message", e.Message())
	setStr(o, "content", e.Content())
	setStr(o, "finish_reason", e.FinishReason())
	if present(e.Table(), 7) {
		calls := make([]any, e.ToolCallsLength())
		var tc wire.ToolCall
		for i := range calls {
			e.ToolCalls(&tc, i)
			calls[i] = describeToolCall(&tc)
		}
		o["tool_calls"] = calls
	}
	if u := e.Usage(nil); u != nil {
		o["usage"] = Object{"prompt_tokens": u.PromptTokens(), "completion_tokens": u.CompletionTokens(),
			"cached_tokens": u.CachedTokens(), "reasoning_tokens": u.ReasoningTokens(),
			"cache_write_tokens": u.CacheWriteTokens()}
	}
	setStr(o, "trace_id", e.TraceId())
	if present(e.Table(), 12) {
		vs := make([]any, e.VerdictsLength())
		var v wire.GuardrailVerdict
		for i := range vs {
			e.Verdicts(&v, i)
			vo := Object{"verdict": enumName(wire.EnumNamesVerdict, v.Verdict())}
			setStr(vo, "guardrail", v.Guardrail())
			setStr(vo, "reason", v.Reason())
			vs[i] = vo
		}
		o["verdicts"] = vs
	}
	setStr(o, "model", e.Model())
	setStr(o, "system_fingerprint", e.SystemFingerprint())
	setStr(o, "service_tier", e.ServiceTier())
	return o
}
