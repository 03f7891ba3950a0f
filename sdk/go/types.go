package outrigger

import (
	"sort"
	"strconv"
	"time"
)

// Request is one chat call. The zero values of its fields mean "unset": they are not sent, and
// the sidecar applies its defaults.
type Request struct {
	// Model is a route name, or a model the default route accepts.
	Model    string
	Messages []Message
	Params   *Params
	// Metadata is merged over the client's default metadata (see WithMetadata): set fields
	// win, tags are merged key by key.
	Metadata Metadata
	// Timeout bounds the call on the sidecar side (the Request's timeout_ms). The context's
	// deadline, when earlier, wins. Zero falls back to the client's default timeout.
	Timeout time.Duration
	Cache   *CacheControl
}

// Message is one chat message.
type Message struct {
	Role       string // system | user | assistant | tool | developer
	Content    string
	Name       string
	ToolCalls  []ToolCall
	ToolCallID string
}

// UserMessage, SystemMessage and AssistantMessage build the common messages.
func UserMessage(content string) Message      { return Message{Role: "user", Content: content} }
func SystemMessage(content string) Message    { return Message{Role: "system", Content: content} }
func AssistantMessage(content string) Message { return Message{Role: "assistant", Content: content} }

// ToolCall is a function call the model made.
type ToolCall struct {
	ID        string
	Type      string // "function"
	Name      string
	Arguments string // JSON text, as the model produced it
}

// Tool is a function the model may call.
type Tool struct {
	Type           string // "function"
	Name           string
	Description    string
	ParametersJSON string // JSON Schema of the arguments
}

// ResponseFormatType selects plain text or JSON output.
type ResponseFormatType int8

// Response formats.
const (
	ResponseFormatText       ResponseFormatType = 0
	ResponseFormatJSONObject ResponseFormatType = 1
	ResponseFormatJSONSchema ResponseFormatType = 2
)

// ResponseFormat asks for structured output.
type ResponseFormat struct {
	Type       ResponseFormatType
	SchemaName string
	SchemaJSON string
	Strict     bool
}

// Params are the sampling and tool parameters. Nil pointers are unset (the sidecar and the
// provider use their defaults); see Float32, Uint32 and Int64 to fill them.
type Params struct {
	Temperature *float32
	TopP        *float32
	MaxTokens   *uint32
	Seed        *int64
	Stop        []string
	Tools       []Tool
	// ToolChoice is "auto", "none", "required" or a function's name; a function named like one of
	// those modes (or starting with "{") as {"type":"function","function":{"name":"none"}}.
	ToolChoice     string
	ResponseFormat *ResponseFormat
	// ExtraJSON is a JSON object passed through to the provider.
	ExtraJSON string
}

// Float32, Uint32 and Int64 return pointers to their argument, for the optional Params fields.
func Float32(v float32) *float32 { return &v }
func Uint32(v uint32) *uint32    { return &v }
func Int64(v int64) *int64       { return &v }

// Metadata describes who is calling and why. It travels with every request and feedback, keys
// caches and budgets (tenant), and labels traces.
type Metadata struct {
	Tenant        string
	User          string
	Session       string
	RequestID     string
	PromptID      string
	PromptVersion string
	Tags          map[string]string
	Traceparent   string // W3C trace context of the caller, if any
}

// merge returns m with the set fields of over replacing its own and the tags of both.
func (m Metadata) merge(over Metadata) Metadata {
	pick := func(base, o string) string {
		if o != "" {
			return o
		}
		return base
	}
	out := Metadata{
		Tenant:        pick(m.Tenant, over.Tenant),
		User:          pick(m.User, over.User),
		Session:       pick(m.Session, over.Session),
		RequestID:     pick(m.RequestID, over.RequestID),
		PromptID:      pick(m.PromptID, over.PromptID),
		PromptVersion: pick(m.PromptVersion, over.PromptVersion),
		Traceparent:   pick(m.Traceparent, over.Traceparent),
	}
	switch {
	case len(over.Tags) == 0:
		out.Tags = m.Tags
	case len(m.Tags) == 0:
		out.Tags = over.Tags
	default:
		out.Tags = make(map[string]string, len(m.Tags)+len(over.Tags))
		for k, v := range m.Tags {
			out.Tags[k] = v
		}
		for k, v := range over.Tags {
			out.Tags[k] = v
		}
	}
	return out
}

func (m Metadata) isZero() bool {
	return m.Tenant == "" && m.User == "" && m.Session == "" && m.RequestID == "" &&
		m.PromptID == "" && m.PromptVersion == "" && len(m.Tags) == 0 && m.Traceparent == ""
}

// sortedTagKeys gives tags a stable order on the wire.
func (m Metadata) sortedTagKeys() []string {
	keys := make([]string, 0, len(m.Tags))
	for k := range m.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// CacheControl steers the sidecar's response cache for one call.
type CacheControl struct {
	Bypass  bool          // neither read nor write the cache
	NoStore bool          // read, but do not store this answer
	TTL     time.Duration // 0: the cache's configured default
}

// Usage counts tokens. CachedTokens (read from the provider's prompt cache) and
// CacheWriteTokens (written to it) are parts of PromptTokens; ReasoningTokens is a part of
// CompletionTokens.
type Usage struct {
	PromptTokens     uint32
	CompletionTokens uint32
	CachedTokens     uint32
	ReasoningTokens  uint32
	CacheWriteTokens uint32
}

// Verdict is a guardrail's decision.
type Verdict int8

// Guardrail verdicts.
const (
	VerdictPass    Verdict = 0
	VerdictFlag    Verdict = 1
	VerdictDeny    Verdict = 2
	VerdictRewrite Verdict = 3
	VerdictSkipped Verdict = 4
	VerdictError   Verdict = 5
)

var verdictNames = [...]string{"Pass", "Flag", "Deny", "Rewrite", "Skipped", "Error"}

// String returns the schema name of the verdict.
func (v Verdict) String() string {
	if v >= 0 && int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return "Verdict(" + strconv.Itoa(int(v)) + ")"
}

// GuardrailVerdict is what one guardrail decided about the call.
type GuardrailVerdict struct {
	Guardrail string // plugin instance name
	Verdict   Verdict
	Reason    string
}

// Response is a finished call.
type Response struct {
	Content      string
	ToolCalls    []ToolCall
	FinishReason string // stop | length | tool_calls | content_filter
	Usage        Usage
	CostUSD      float64
	CacheHit     bool
	TraceID      string
	Verdicts     []GuardrailVerdict
	Model        string
	// Origin is the "stage/instance" that produced the answer, for example "provider/mock"
	// or a cache.
	Origin string
	// Provider is the plugin instance that answered. Only streamed calls report it.
	Provider string
	// ReachedProvider: the sidecar started a provider attempt for this request.
	ReachedProvider bool
	// Refusal: the answer is the model's refusal. Content is refusal text, not an answer to
	// parse, and FinishReason is content_filter.
	Refusal bool
	// SystemFingerprint is the upstream's backend configuration id, when it sent one.
	SystemFingerprint string
	// ServiceTier is the tier the upstream served the answer on, when it said.
	ServiceTier string
}

// StreamStart is the first frame of a streamed answer.
type StreamStart struct {
	Model    string // the model answering: the upstream's name for it when it said one
	Provider string // plugin instance that is answering
	CacheHit bool
	TraceID  string
	// SystemFingerprint and ServiceTier are what the upstream said as its stream began, when
	// it did.
	SystemFingerprint string
	ServiceTier       string
}

// ToolCallDelta is a fragment of a tool call in a streamed answer. Fragments with the same
// Index belong to the same call; Arguments are appended.
type ToolCallDelta struct {
	Index     uint32
	ID        string
	Type      string
	Name      string
	Arguments string
}

// Chunk is one piece of a streamed answer.
type Chunk struct {
	Seq       uint32
	Delta     string
	ToolCalls []ToolCallDelta
	Refusal   bool // Delta is the model's refusal text, not content
}

// Feedback scores an earlier answer, found by its trace id.
type Feedback struct {
	TraceID string
	Score   float64
	Comment string
	// Metadata is merged over the client's default metadata, as for requests.
	Metadata Metadata
}
