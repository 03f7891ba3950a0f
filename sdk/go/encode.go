package outrigger

import (
	"sync"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/outrigger-dev/outrigger/sdk/go/wire"
)

// Frame building. Every builder here returns a complete size-prefixed frame ("ORG1").
//
// Encoding rules shared by all bodies: a Go zero value means "unset" and is not written, with
// three exceptions that are always written because a reader needs them even when empty:
// Request.model, Message.role and Message.content. Tags go out sorted by key.

var fileIdentifier = []byte("ORG1")

// placeholderStreamID is written into frames built before their connection assigns the real
// id. Being non-zero it is always stored, so setStreamID can overwrite it in place.
const placeholderStreamID = ^uint64(0)

var builderPool = sync.Pool{New: func() any { return flatbuffers.NewBuilder(1024) }}

// build runs fill on a pooled builder and returns a copy of the finished frame.
func build(fill func(b *flatbuffers.Builder) flatbuffers.UOffsetT) []byte {
	b := builderPool.Get().(*flatbuffers.Builder)
	b.Reset()
	root := fill(b)
	b.FinishSizePrefixedWithFileIdentifier(root, fileIdentifier)
	out := append([]byte(nil), b.FinishedBytes()...)
	if cap(b.Bytes) <= 1<<20 { // do not keep huge buffers alive in the pool
		builderPool.Put(b)
	}
	return out
}

func frameOf(b *flatbuffers.Builder, streamID uint64, t wire.Body, body flatbuffers.UOffsetT) flatbuffers.UOffsetT {
	wire.FrameStart(b)
	wire.FrameAddStreamId(b, streamID)
	wire.FrameAddBodyType(b, t)
	wire.FrameAddBody(b, body)
	return wire.FrameEnd(b)
}

// setStreamID overwrites the stream id of a frame built with a non-zero id.
func setStreamID(frame []byte, id uint64) bool {
	return wire.GetSizePrefixedRootAsFrame(frame, 0).MutateStreamId(id)
}

// setRequestTimeout overwrites timeout_ms of a Request frame built with a non-zero timeout.
func setRequestTimeout(frame []byte, ms uint32) bool {
	f := wire.GetSizePrefixedRootAsFrame(frame, 0)
	var t flatbuffers.Table
	if f.BodyType() != wire.BodyRequest || !f.Body(&t) {
		return false
	}
	var r wire.Request
	r.Init(t.Bytes, t.Pos)
	return r.MutateTimeoutMs(ms)
}

// optString creates s, or returns 0 (not written) for "".
func optString(b *flatbuffers.Builder, s string) flatbuffers.UOffsetT {
	if s == "" {
		return 0
	}
	return b.CreateString(s)
}

// offsetVector writes a vector of already created offsets, or returns 0 for none.
func offsetVector(b *flatbuffers.Builder, offs []flatbuffers.UOffsetT) flatbuffers.UOffsetT {
	if len(offs) == 0 {
		return 0
	}
	b.StartVector(4, len(offs), 4)
	for i := len(offs) - 1; i >= 0; i-- {
		b.PrependUOffsetT(offs[i])
	}
	return b.EndVector(len(offs))
}

// helloSettings is what the client announces in Hello.
type helloSettings struct {
	protoMajor, protoMinor uint16
	clientName             string
	clientVersion          string
	sdkLanguage            string
	maxFrameSize           uint32
	features               wire.Feature
}

func encodeHello(h helloSettings) []byte {
	return build(func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
		name := optString(b, h.clientName)
		version := optString(b, h.clientVersion)
		lang := optString(b, h.sdkLanguage)
		wire.HelloStart(b)
		wire.HelloAddProtoMajor(b, h.protoMajor)
		wire.HelloAddProtoMinor(b, h.protoMinor)
		if name != 0 {
			wire.HelloAddClientName(b, name)
		}
		if version != 0 {
			wire.HelloAddClientVersion(b, version)
		}
		if lang != 0 {
			wire.HelloAddSdkLanguage(b, lang)
		}
		wire.HelloAddMaxFrameSize(b, h.maxFrameSize)
		wire.HelloAddFeatures(b, h.features)
		return frameOf(b, 0, wire.BodyHello, wire.HelloEnd(b))
	})
}

// encodeRequest builds a Request frame. md is the already merged metadata; timeoutMs 0 means
// the sidecar's default.
func encodeRequest(streamID uint64, r *Request, md Metadata, stream bool, timeoutMs uint32) []byte {
	return build(func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
		model := b.CreateString(r.Model)
		msgs := make([]flatbuffers.UOffsetT, len(r.Messages))
		for i := range r.Messages {
			msgs[i] = buildMessage(b, &r.Messages[i])
		}
		messages := offsetVector(b, msgs)
		var params flatbuffers.UOffsetT
		if r.Params != nil {
			params = buildParams(b, r.Params)
		}
		meta := buildMetadata(b, md)
		var cache flatbuffers.UOffsetT
		if r.Cache != nil {
			wire.CacheControlStart(b)
			wire.CacheControlAddBypass(b, r.Cache.Bypass)
			wire.CacheControlAddNoStore(b, r.Cache.NoStore)
			wire.CacheControlAddTtlMs(b, durationMs(r.Cache.TTL))
			cache = wire.CacheControlEnd(b)
		}
		wire.RequestStart(b)
		wire.RequestAddModel(b, model)
		if messages != 0 {
			wire.RequestAddMessages(b, messages)
		}
		if params != 0 {
			wire.RequestAddParams(b, params)
		}
		wire.RequestAddStream(b, stream)
		if meta != 0 {
			wire.RequestAddMetadata(b, meta)
		}
		wire.RequestAddTimeoutMs(b, timeoutMs)
		if cache != 0 {
			wire.RequestAddCache(b, cache)
		}
		return frameOf(b, streamID, wire.BodyRequest, wire.RequestEnd(b))
	})
}

func buildToolCall(b *flatbuffers.Builder, tc *ToolCall) flatbuffers.UOffsetT {
	id, typ := optString(b, tc.ID), optString(b, tc.Type)
	name, args := optString(b, tc.Name), optString(b, tc.Arguments)
	wire.ToolCallStart(b)
	if id != 0 {
		wire.ToolCallAddId(b, id)
	}
	if typ != 0 {
		wire.ToolCallAddType(b, typ)
	}
	if name != 0 {
		wire.ToolCallAddName(b, name)
	}
	if args != 0 {
		wire.ToolCallAddArguments(b, args)
	}
	return wire.ToolCallEnd(b)
}

func buildMessage(b *flatbuffers.Builder, m *Message) flatbuffers.UOffsetT {
	role := b.CreateString(m.Role)
	content := b.CreateString(m.Content)
	name := optString(b, m.Name)
	calls := make([]flatbuffers.UOffsetT, len(m.ToolCalls))
	for i := range m.ToolCalls {
		calls[i] = buildToolCall(b, &m.ToolCalls[i])
	}
	toolCalls := offsetVector(b, calls)
	callID := optString(b, m.ToolCallID)
	wire.MessageStart(b)
	wire.MessageAddRole(b, role)
	wire.MessageAddContent(b, content)
	if name != 0 {
		wire.MessageAddName(b, name)
	}
	if toolCalls != 0 {
		wire.MessageAddToolCalls(b, toolCalls)
	}
	if callID != 0 {
		wire.MessageAddToolCallId(b, callID)
	}
	return wire.MessageEnd(b)
}

func buildTool(b *flatbuffers.Builder, t *Tool) flatbuffers.UOffsetT {
	typ, name := optString(b, t.Type), optString(b, t.Name)
	desc, params := optString(b, t.Description), optString(b, t.ParametersJSON)
	wire.ToolStart(b)
	if typ != 0 {
		wire.ToolAddType(b, typ)
	}
	if name != 0 {
		wire.ToolAddName(b, name)
	}
	if desc != 0 {
		wire.ToolAddDescription(b, desc)
	}
	if params != 0 {
		wire.ToolAddParametersJson(b, params)
	}
	return wire.ToolEnd(b)
}

func buildParams(b *flatbuffers.Builder, p *Params) flatbuffers.UOffsetT {
	stops := make([]flatbuffers.UOffsetT, len(p.Stop))
	for i, s := range p.Stop {
		stops[i] = b.CreateString(s) // elements are written even when empty
	}
	stop := offsetVector(b, stops)
	toolOffs := make([]flatbuffers.UOffsetT, len(p.Tools))
	for i := range p.Tools {
		toolOffs[i] = buildTool(b, &p.Tools[i])
	}
	tools := offsetVector(b, toolOffs)
	choice := optString(b, p.ToolChoice)
	var format flatbuffers.UOffsetT
	if rf := p.ResponseFormat; rf != nil {
		name, schema := optString(b, rf.SchemaName), optString(b, rf.SchemaJSON)
		wire.ResponseFormatStart(b)
		wire.ResponseFormatAddType(b, wire.ResponseFormatType(rf.Type))
		if name != 0 {
			wire.ResponseFormatAddSchemaName(b, name)
		}
		if schema != 0 {
			wire.ResponseFormatAddSchemaJson(b, schema)
		}
		wire.ResponseFormatAddStrict(b, rf.Strict)
		format = wire.ResponseFormatEnd(b)
	}
	extra := optString(b, p.ExtraJSON)
	wire.ParamsStart(b)
	if p.Temperature != nil {
		wire.ParamsAddTemperature(b, *p.Temperature)
	}
	if p.TopP != nil {
		wire.ParamsAddTopP(b, *p.TopP)
	}
	if p.MaxTokens != nil {
		wire.ParamsAddMaxTokens(b, *p.MaxTokens)
	}
	if p.Seed != nil {
		wire.ParamsAddSeed(b, *p.Seed)
	}
	if stop != 0 {
		wire.ParamsAddStop(b, stop)
	}
	if tools != 0 {
		wire.ParamsAddTools(b, tools)
	}
	if choice != 0 {
		wire.ParamsAddToolChoice(b, choice)
	}
	if format != 0 {
		wire.ParamsAddResponseFormat(b, format)
	}
	if extra != 0 {
		wire.ParamsAddExtraJson(b, extra)
	}
	return wire.ParamsEnd(b)
}

// buildMetadata writes md, or returns 0 when nothing in it is set.
func buildMetadata(b *flatbuffers.Builder, md Metadata) flatbuffers.UOffsetT {
	if md.isZero() {
		return 0
	}
	keys := md.sortedTagKeys()
	tagOffs := make([]flatbuffers.UOffsetT, len(keys))
	for i, k := range keys {
		key, value := b.CreateString(k), b.CreateString(md.Tags[k])
		wire.TagStart(b)
		wire.TagAddKey(b, key)
		wire.TagAddValue(b, value)
		tagOffs[i] = wire.TagEnd(b)
	}
	tags := offsetVector(b, tagOffs)
	tenant, user, session := optString(b, md.Tenant), optString(b, md.User), optString(b, md.Session)
	reqID, promptID := optString(b, md.RequestID), optString(b, md.PromptID)
	promptVersion, traceparent := optString(b, md.PromptVersion), optString(b, md.Traceparent)
	wire.MetadataStart(b)
	for _, f := range []struct {
		off flatbuffers.UOffsetT
		add func(*flatbuffers.Builder, flatbuffers.UOffsetT)
	}{
		{tenant, wire.MetadataAddTenant}, {user, wire.MetadataAddUser},
		{session, wire.MetadataAddSession}, {reqID, wire.MetadataAddRequestId},
		{promptID, wire.MetadataAddPromptId}, {promptVersion, wire.MetadataAddPromptVersion},
		{tags, wire.MetadataAddTags}, {traceparent, wire.MetadataAddTraceparent},
	} {
		if f.off != 0 {
			f.add(b, f.off)
		}
	}
	return wire.MetadataEnd(b)
}

func encodeCancel(streamID uint64, reason string) []byte {
	return build(func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
		r := optString(b, reason)
		wire.CancelStart(b)
		if r != 0 {
			wire.CancelAddReason(b, r)
		}
		return frameOf(b, streamID, wire.BodyCancel, wire.CancelEnd(b))
	})
}

func encodeFeedback(streamID uint64, fb *Feedback, md Metadata) []byte {
	return build(func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
		trace, comment := optString(b, fb.TraceID), optString(b, fb.Comment)
		meta := buildMetadata(b, md)
		wire.FeedbackStart(b)
		if trace != 0 {
			wire.FeedbackAddTraceId(b, trace)
		}
		wire.FeedbackAddScore(b, fb.Score)
		if comment != 0 {
			wire.FeedbackAddComment(b, comment)
		}
		if meta != 0 {
			wire.FeedbackAddMetadata(b, meta)
		}
		return frameOf(b, streamID, wire.BodyFeedback, wire.FeedbackEnd(b))
	})
}

func encodePing(opaque uint64) []byte {
	return build(func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
		wire.PingStart(b)
		wire.PingAddOpaque(b, opaque)
		return frameOf(b, 0, wire.BodyPing, wire.PingEnd(b))
	})
}

func encodePong(opaque uint64) []byte {
	return build(func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
		wire.PongStart(b)
		wire.PongAddOpaque(b, opaque)
		return frameOf(b, 0, wire.BodyPong, wire.PongEnd(b))
	})
}
