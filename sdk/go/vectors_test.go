package outrigger

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/outrigger-dev/outrigger/sdk/go/internal/wiredesc"
	"github.com/outrigger-dev/outrigger/sdk/go/wire"
)

// Tests over the shared vectors in schemas/vectors: every .bin decodes to its .json, the SDK's
// own decoding of response frames keeps every field, and frames the SDK builds from each
// request-type vector describe back to that vector (checked by our reader and, when
// OUTRIGGER_FRAME_DESCRIBE names the C++ frame_describe tool, by the C++ reader too).

const vectorsDir = "../../schemas/vectors"

type vector struct {
	name string
	bin  []byte
	desc map[string]any // the .json, parsed
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(vectorsDir, "*.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no vectors found in %s", vectorsDir)
	}
	var out []vector
	for _, p := range paths {
		bin, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		js, err := os.ReadFile(strings.TrimSuffix(p, ".bin") + ".json")
		if err != nil {
			t.Fatalf("%s has no .json: %v", p, err)
		}
		var desc map[string]any
		if err := json.Unmarshal(js, &desc); err != nil {
			t.Fatalf("%s.json: %v", p, err)
		}
		out = append(out, vector{name: strings.TrimSuffix(filepath.Base(p), ".bin"), bin: bin, desc: desc})
	}
	return out
}

// normalize round-trips v through JSON so Go values compare like parsed JSON.
func normalize(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func assertSameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, w := normalize(t, got), normalize(t, want)
	if !reflect.DeepEqual(g, w) {
		gb, _ := json.MarshalIndent(g, "", " ")
		wb, _ := json.MarshalIndent(w, "", " ")
		t.Errorf("%s differs\n got: %s\nwant: %s", what, gb, wb)
	}
}

func TestVectorsDecodeToCanonicalJSON(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.name, func(t *testing.T) {
			got, err := wiredesc.Describe(v.bin)
			if err != nil {
				t.Fatal(err)
			}
			assertSameJSON(t, "description", got, v.desc)
		})
	}
}

// Every vector passes the SDK's frame reader: the length prefix is accepted under the default
// limit and refused under a limit one byte smaller.
func TestVectorsFrameLimits(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.name, func(t *testing.T) {
			size := uint32(len(v.bin) - 4)
			got, err := readFrame(bytes.NewReader(v.bin), nil, 4<<20)
			if err != nil || !bytes.Equal(got, v.bin) {
				t.Fatalf("readFrame under the default limit: %v", err)
			}
			_, err = readFrame(bytes.NewReader(v.bin), nil, size-1)
			if _, ok := err.(*frameSizeError); !ok {
				t.Fatalf("readFrame with limit %d accepted a %d-byte frame (err %v)", size-1, size, err)
			}
		})
	}
}

// sdkVisible drops what the SDK's types cannot carry from a vector body: strings set to ""
// (the SDK treats "" as unset) and empty lists. Request.model, Message.role/content and tag
// keys/values are always written, so they stay. Tags are sorted by key, as the SDK sends them.
func sdkVisible(v any, path string) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			p := path + "." + k
			if s, ok := e.(string); ok && s == "" && !alwaysWritten[p] {
				continue
			}
			if l, ok := e.([]any); ok && len(l) == 0 {
				continue
			}
			e = sdkVisible(e, p)
			if k == "metadata" && len(e.(map[string]any)) == 0 {
				continue // empty metadata is not sent at all
			}
			out[k] = e
		}
		if tags, ok := out["tags"].([]any); ok {
			sort.SliceStable(tags, func(i, j int) bool {
				return tags[i].(map[string]any)["key"].(string) < tags[j].(map[string]any)["key"].(string)
			})
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = sdkVisible(e, path+"[]")
		}
		return out
	}
	return v
}

var alwaysWritten = map[string]bool{
	"Request.model": true, "Request.messages[].role": true, "Request.messages[].content": true,
	"Request.metadata.tags[].key": true, "Request.metadata.tags[].value": true,
	"Feedback.metadata.tags[].key": true, "Feedback.metadata.tags[].value": true,
	"Request.params.stop[]": true,
}

// encodeVector builds the vector's frame with the SDK's own builders, from SDK types.
func encodeVector(t *testing.T, v vector) ([]byte, bool) {
	t.Helper()
	id := uint64(v.desc["stream_id"].(float64))
	body, _ := v.desc["body"].(map[string]any)
	switch v.desc["body_type"] {
	case "Hello":
		return encodeHello(helloSettings{
			protoMajor: uint16(num(body, "proto_major")), protoMinor: uint16(num(body, "proto_minor")),
			clientName: str(body, "client_name"), clientVersion: str(body, "client_version"),
			sdkLanguage: str(body, "sdk_language"), maxFrameSize: uint32(num(body, "max_frame_size")),
			features: featureBits(num(body, "features")),
		}), true
	case "Request":
		req := requestFromJSON(body)
		timeout := time.Duration(num(body, "timeout_ms")) * time.Millisecond
		return encodeRequest(id, req, req.Metadata, body["stream"].(bool), durationMs(timeout)), true
	case "Cancel":
		return encodeCancel(id, str(body, "reason")), true
	case "Feedback":
		fb := Feedback{TraceID: str(body, "trace_id"), Score: num(body, "score"), Comment: str(body, "comment"),
			Metadata: metadataFromJSON(obj(body, "metadata"))}
		return encodeFeedback(id, &fb, fb.Metadata), true
	case "Ping":
		return encodePing(uint64(num(body, "opaque"))), true
	case "Pong":
		return encodePong(uint64(num(body, "opaque"))), true
	}
	return nil, false // frames only the sidecar sends
}

func TestVectorsEncodeThroughSDK(t *testing.T) {
	tool := os.Getenv("OUTRIGGER_FRAME_DESCRIBE")
	encoded := 0
	for _, v := range loadVectors(t) {
		frame, ok := encodeVector(t, v)
		if !ok {
			continue
		}
		encoded++
		t.Run(v.name, func(t *testing.T) {
			want := map[string]any{"stream_id": v.desc["stream_id"], "body_type": v.desc["body_type"]}
			if b, ok := v.desc["body"]; ok {
				want["body"] = sdkVisible(b, v.desc["body_type"].(string))
			}
			got, err := wiredesc.Describe(frame)
			if err != nil {
				t.Fatal(err)
			}
			assertSameJSON(t, "SDK-built frame (Go reader)", got, want)
			if tool == "" {
				return
			}
			assertSameJSON(t, "SDK-built frame (frame_describe)", runFrameDescribe(t, tool, frame), want)
		})
	}
	if encoded < 5 {
		t.Fatalf("only %d request-type vectors were encoded", encoded)
	}
	if tool == "" {
		t.Log("OUTRIGGER_FRAME_DESCRIBE is unset: SDK-built frames were checked with the Go reader only")
	}
}

func TestVectorsCheckedByFrameDescribe(t *testing.T) {
	tool := os.Getenv("OUTRIGGER_FRAME_DESCRIBE")
	if tool == "" {
		t.Skip("OUTRIGGER_FRAME_DESCRIBE is unset (path of the C++ frame_describe tool): skipping the cross-reader check")
	}
	// The Hello this client really sends, as the C++ reader sees it.
	c, err := New(WithClientName("go-test", "9.9.9"), WithMaxFrameSize(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	assertSameJSON(t, "client Hello", runFrameDescribe(t, tool, c.hello), map[string]any{
		"stream_id": 0, "body_type": "Hello", "body": map[string]any{
			"proto_major": 1, "proto_minor": 0, "client_name": "go-test", "client_version": "9.9.9",
			"sdk_language": "go", "max_frame_size": 1 << 20, "features": 15}})
}

func runFrameDescribe(t *testing.T, tool string, frame []byte) any {
	t.Helper()
	path := filepath.Join(t.TempDir(), "frame.bin")
	if err := os.WriteFile(path, frame, 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(tool, path)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, path, err, stderr.String())
	}
	var desc any
	if err := json.Unmarshal(out, &desc); err != nil {
		t.Fatalf("frame_describe printed no JSON: %v\n%s", err, out)
	}
	return desc
}

// The SDK's decoding of response-side vectors keeps every field the SDK types carry.
func TestVectorsDecodeThroughSDK(t *testing.T) {
	checked := 0
	for _, v := range loadVectors(t) {
		f, err := parseFrame(v.bin)
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		tbl, hasBody := bodyTable(f)
		body, _ := v.desc["body"].(map[string]any)
		var got any
		switch v.desc["body_type"] {
		case "ResponseStart":
			s := decodeStart(tbl)
			got = map[string]any{"model": s.Model, "provider": s.Provider, "cache_hit": s.CacheHit, "trace_id": s.TraceID,
				"system_fingerprint": s.SystemFingerprint, "service_tier": s.ServiceTier}
		case "ResponseChunk":
			got = chunkJSON(decodeChunk(tbl))
		case "ResponseEnd":
			resp, e := decodeEnd(tbl)
			got = endJSON(resp, e)
		case "HelloAck":
			a := decodeHelloAck(tbl)
			got = map[string]any{"proto_major": a.protoMajor, "proto_minor": a.protoMinor,
				"server_version": a.serverVersion, "max_frame_size": a.maxFrameSize,
				"max_concurrent_streams": a.maxConcurrentStreams, "features": uint64(a.features),
				"heartbeat_ms": a.heartbeat.Milliseconds()}
		case "Error":
			e := decodeConnError(tbl)
			if e.Status.String() != body["status"] || !strings.Contains(e.Message, body["message"].(string)) {
				t.Errorf("%s: decoded %+v", v.name, e)
			}
			checked++
			continue
		default:
			if !hasBody && body != nil {
				t.Errorf("%s: body missing", v.name)
			}
			continue
		}
		checked++
		t.Run(v.name, func(t *testing.T) {
			assertSameJSON(t, "SDK decoding", sdkVisible(got, ""), sdkVisible(body, ""))
		})
	}
	if checked < 5 {
		t.Fatalf("only %d response-type vectors checked", checked)
	}
}

func verdictsJSON(vs []GuardrailVerdict) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = map[string]any{"guardrail": v.Guardrail, "verdict": v.Verdict.String(), "reason": v.Reason}
	}
	return out
}

func chunkJSON(c Chunk) map[string]any {
	calls := make([]any, len(c.ToolCalls))
	for i, d := range c.ToolCalls {
		calls[i] = map[string]any{"index": d.Index, "id": d.ID, "type": d.Type, "name": d.Name, "arguments": d.Arguments}
	}
	return map[string]any{"seq": c.Seq, "delta": c.Delta, "tool_calls": calls, "refusal": c.Refusal}
}

func endJSON(r *Response, e *Error) map[string]any {
	if e != nil {
		return map[string]any{"status": e.Status.String(), "retryable": e.Retryable,
			"retry_after_ms": e.RetryAfter.Milliseconds(), "origin": e.Origin, "message": e.Message,
			"trace_id": e.TraceID, "cost_usd": 0, "cache_hit": false, "reached_provider": e.ReachedProvider,
			"refusal": false, "verdicts": verdictsJSON(e.Verdicts)}
	}
	calls := make([]any, len(r.ToolCalls))
	for i, c := range r.ToolCalls {
		calls[i] = map[string]any{"id": c.ID, "type": c.Type, "name": c.Name, "arguments": c.Arguments}
	}
	verdicts := verdictsJSON(r.Verdicts)
	u := r.Usage
	out := map[string]any{"status": "OK", "retryable": false, "retry_after_ms": 0,
		"origin":  r.Origin,
		"content": r.Content, "finish_reason": r.FinishReason, "tool_calls": calls,
		"cost_usd": r.CostUSD, "cache_hit": r.CacheHit, "trace_id": r.TraceID, "verdicts": verdicts,
		"model": r.Model, "reached_provider": r.ReachedProvider, "refusal": r.Refusal,
		"system_fingerprint": r.SystemFingerprint, "service_tier": r.ServiceTier}
	// A Response cannot tell usage the end left out from usage of zeros: zeros stand for absent.
	if u != (Usage{}) {
		out["usage"] = map[string]any{"prompt_tokens": u.PromptTokens, "completion_tokens": u.CompletionTokens,
			"cached_tokens": u.CachedTokens, "reasoning_tokens": u.ReasoningTokens,
			"cache_write_tokens": u.CacheWriteTokens}
	}
	return out
}

// The frame a real Chat call writes for request_full describes back to the vector (apart from
// the stream id, which the connection assigns).
func TestChatWritesVectorRequest(t *testing.T) {
	var full vector
	for _, v := range loadVectors(t) {
		if v.name == "request_full" {
			full = v
		}
	}
	if full.bin == nil {
		t.Skip("vector request_full not present")
	}
	srv := newFakeServer(t, ackSpec{})
	c := dialFake(t, srv)
	body := full.desc["body"].(map[string]any)
	req := requestFromJSON(body)
	req.Timeout = time.Duration(num(body, "timeout_ms")) * time.Millisecond
	fc := srv.next(t)
	st, err := c.ChatStream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got := fc.recvType(t, "Request")
	if got.id != 1 {
		t.Errorf("first stream id %d, want 1", got.id)
	}
	// timeout_ms is recomputed when written: it may be a millisecond or so below the vector's.
	if ms := got.body["timeout_ms"].(uint32); ms > 30000 || ms < 29000 {
		t.Errorf("timeout_ms %d, want about 30000", ms)
	}
	got.body["timeout_ms"] = body["timeout_ms"]
	assertSameJSON(t, "request written by ChatStream", got.body, sdkVisible(body, "Request"))
}

// ---------------------------------------------------------------- JSON to SDK types

func featureBits(f float64) wire.Feature { return wire.Feature(uint64(f)) }

func str(o map[string]any, k string) string { s, _ := o[k].(string); return s }
func num(o map[string]any, k string) float64 {
	f, _ := o[k].(float64)
	return f
}
func obj(o map[string]any, k string) map[string]any { m, _ := o[k].(map[string]any); return m }
func listOf(o map[string]any, k string) []map[string]any {
	var out []map[string]any
	for _, e := range o[k].([]any) {
		out = append(out, e.(map[string]any))
	}
	return out
}

func requestFromJSON(b map[string]any) *Request {
	r := &Request{Model: str(b, "model"), Metadata: metadataFromJSON(obj(b, "metadata"))}
	if _, ok := b["messages"]; ok {
		for _, m := range listOf(b, "messages") {
			msg := Message{Role: str(m, "role"), Content: str(m, "content"), Name: str(m, "name"),
				ToolCallID: str(m, "tool_call_id")}
			if _, ok := m["tool_calls"]; ok {
				for _, tc := range listOf(m, "tool_calls") {
					msg.ToolCalls = append(msg.ToolCalls, ToolCall{ID: str(tc, "id"), Type: str(tc, "type"),
						Name: str(tc, "name"), Arguments: str(tc, "arguments")})
				}
			}
			r.Messages = append(r.Messages, msg)
		}
	}
	if p := obj(b, "params"); p != nil {
		r.Params = paramsFromJSON(p)
	}
	if c := obj(b, "cache"); c != nil {
		r.Cache = &CacheControl{Bypass: c["bypass"].(bool), NoStore: c["no_store"].(bool),
			TTL: time.Duration(num(c, "ttl_ms")) * time.Millisecond}
	}
	return r
}

func paramsFromJSON(p map[string]any) *Params {
	out := &Params{ToolChoice: str(p, "tool_choice"), ExtraJSON: str(p, "extra_json")}
	if v, ok := p["temperature"].(float64); ok {
		out.Temperature = Float32(float32(v))
	}
	if v, ok := p["top_p"].(float64); ok {
		out.TopP = Float32(float32(v))
	}
	if v, ok := p["max_tokens"].(float64); ok {
		out.MaxTokens = Uint32(uint32(v))
	}
	if v, ok := p["seed"].(float64); ok {
		out.Seed = Int64(int64(v))
	}
	if stop, ok := p["stop"].([]any); ok {
		for _, s := range stop {
			out.Stop = append(out.Stop, s.(string))
		}
	}
	if _, ok := p["tools"]; ok {
		for _, t := range listOf(p, "tools") {
			out.Tools = append(out.Tools, Tool{Type: str(t, "type"), Name: str(t, "name"),
				Description: str(t, "description"), ParametersJSON: str(t, "parameters_json")})
		}
	}
	if rf := obj(p, "response_format"); rf != nil {
		types := map[string]ResponseFormatType{"Text": ResponseFormatText,
			"JsonObject": ResponseFormatJSONObject, "JsonSchema": ResponseFormatJSONSchema}
		out.ResponseFormat = &ResponseFormat{Type: types[str(rf, "type")], SchemaName: str(rf, "schema_name"),
			SchemaJSON: str(rf, "schema_json"), Strict: rf["strict"].(bool)}
	}
	return out
}

func metadataFromJSON(m map[string]any) Metadata {
	if m == nil {
		return Metadata{}
	}
	md := Metadata{Tenant: str(m, "tenant"), User: str(m, "user"), Session: str(m, "session"),
		RequestID: str(m, "request_id"), PromptID: str(m, "prompt_id"),
		PromptVersion: str(m, "prompt_version"), Traceparent: str(m, "traceparent")}
	if _, ok := m["tags"]; ok {
		md.Tags = map[string]string{}
		for _, tag := range listOf(m, "tags") {
			md.Tags[str(tag, "key")] = str(tag, "value")
		}
	}
	return md
}
