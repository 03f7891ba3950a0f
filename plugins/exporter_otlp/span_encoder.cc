#include "span_encoder.h"

#include <outrigger/plugin.hpp>

#include <rapidjson/document.h>

#include <optional>
#include <vector>

#include "bounded_json.h"
#include "otlp_proto.h"

namespace outrigger::otlp {
namespace {

using outrigger::plugin::codeName;

std::string_view sv(outrigger_str s) { return s.size ? std::string_view(s.data, s.size) : std::string_view(); }

bool hasTrace(const outrigger_record_view& r) {
  return r.hdr.struct_size >= OUTRIGGER_SIZE_THROUGH(outrigger_record_view, answer_tool_call_count);
}

// The trace of span i, stepping by the host's element size; nullptr from a host without traces.
const outrigger_span_trace_view* traceOf(const outrigger_record_view& r, size_t i) {
  if (!hasTrace(r) || !r.span_traces || r.span_trace_size < sizeof(outrigger_span_trace_view)) return nullptr;
  return reinterpret_cast<const outrigger_span_trace_view*>(reinterpret_cast<const char*>(r.span_traces) +
                                                            i * r.span_trace_size);
}

std::string_view attribute(const outrigger_span_trace_view* t, std::string_view k) {
  for (size_t i = 0; t && i < t->attribute_count; ++i) {
    if (sv(t->attributes[i].key) == k) return sv(t->attributes[i].value);
  }
  return {};
}

bool isAttempt(std::string_view stage) { return stage == "provider" || stage == "provider.embed"; }
bool isGuardrail(std::string_view stage) { return stage.rfind("guardrail.", 0) == 0; }

// The attempt whose answer the client got: the last one that ended OK, else the last one.
int answeringAttempt(const outrigger_record_view& r) {
  int last = -1;
  for (size_t i = r.span_count; i-- > 0;) {
    if (!isAttempt(sv(r.spans[i].stage))) continue;
    if (last < 0) last = static_cast<int>(i);
    if (attribute(traceOf(r, i), "outrigger.status") == "OK") return static_cast<int>(i);
  }
  return last;
}

std::string_view operationOf(const outrigger_record_view& r) {
  for (size_t i = 0; i < r.span_count; ++i) {
    if (sv(r.spans[i].stage) == "provider.embed") return "embeddings";
  }
  return "chat";
}

// The model the request asked for: its first attempt's; the record's own model is the one that
// answered, when one did.
std::string_view requestModel(const outrigger_record_view& r) {
  for (size_t i = 0; i < r.span_count; ++i) {
    if (!isAttempt(sv(r.spans[i].stage))) continue;
    std::string_view m = attribute(traceOf(r, i), "gen_ai.request.model");
    if (!m.empty()) return m;
  }
  return sv(r.model);
}

std::string spanName(std::string_view operation, std::string_view model) {
  std::string name(operation);
  if (!model.empty()) name.append(" ").append(model);
  return name;
}

struct SpanHead {
  std::string_view trace_id, span_id, parent_span_id, name;
  SpanKind kind;
  uint64_t start_unix_ns, end_unix_ns;
};

// How each encoding writes a span's frame around the attributes the functions below choose:
// beginSpan (head, then attributes), endAttributes, an optional beginEvent/endEvent (with
// attributes of its own), endSpan (status). JSON: the JsonWriter; protobuf: ProtoSpan.
void beginSpan(JsonWriter& w, const SpanHead& h) {
  w.StartObject();
  w.Key("traceId");
  writeString(w, h.trace_id);
  w.Key("spanId");
  writeString(w, h.span_id);
  if (isHexId(h.parent_span_id, 16)) {
    w.Key("parentSpanId");
    writeString(w, h.parent_span_id);
  }
  w.Key("name");
  writeString(w, h.name);
  w.Key("kind");
  w.Int(static_cast<int>(h.kind));
  w.Key("startTimeUnixNano");
  writeInt64(w, h.start_unix_ns);
  w.Key("endTimeUnixNano");
  writeInt64(w, h.end_unix_ns);
  w.Key("attributes");
  w.StartArray();
}

void endAttributes(JsonWriter& w) { w.EndArray(); }

void beginEvent(JsonWriter& w, uint64_t time_unix_ns, std::string_view name) {
  w.Key("events");
  w.StartArray();
  w.StartObject();
  w.Key("timeUnixNano");
  writeInt64(w, time_unix_ns);
  w.Key("name");
  writeString(w, name);
  w.Key("attributes");
  w.StartArray();
}

void endEvent(JsonWriter& w) {
  w.EndArray();
  w.EndObject();
  w.EndArray();
}

void endSpan(JsonWriter& w, StatusCode code, std::string_view message) {
  w.Key("status");
  w.StartObject();
  if (code == StatusCode::kError && !message.empty()) {
    w.Key("message");
    writeString(w, message);
  }
  w.Key("code");
  w.Int(static_cast<int>(code));
  w.EndObject();
  w.EndObject();
}

// Span messages appended to a buffer as ScopeSpans.spans fields (otlp_proto.h), one at a time.
class ProtoSpan {
 public:
  explicit ProtoSpan(std::string* out) : out_(out), batch_(*out) {}

  void begin(const SpanHead& h) {
    span_.emplace(batch_, pb::scope_spans::kSpans);
    pb::IdBytes id = pb::idBytes(h.trace_id);
    span_->add_bytes(pb::span::kTraceId, id.bytes, id.size);
    id = pb::idBytes(h.span_id);
    span_->add_bytes(pb::span::kSpanId, id.bytes, id.size);
    if (isHexId(h.parent_span_id, 16)) {
      id = pb::idBytes(h.parent_span_id);
      span_->add_bytes(pb::span::kParentSpanId, id.bytes, id.size);
    }
    span_->add_string(pb::span::kName, h.name.data(), h.name.size());
    span_->add_enum(pb::span::kKind, static_cast<int32_t>(h.kind));
    span_->add_fixed64(pb::span::kStartTime, h.start_unix_ns);
    span_->add_fixed64(pb::span::kEndTime, h.end_unix_ns);
    attributes_.emplace(out_, pb::span::kAttributes);
  }
  void beginEvent(uint64_t time_unix_ns, std::string_view name) {
    event_.emplace(*span_, pb::span::kEvents);
    event_->add_fixed64(pb::event::kTime, time_unix_ns);
    event_->add_string(pb::event::kName, name.data(), name.size());
    attributes_.emplace(out_, pb::event::kAttributes);
  }
  void endEvent() {
    event_.reset();  // writes the event's length
    attributes_.emplace(out_, pb::span::kAttributes);
  }
  void end(StatusCode code, std::string_view message) {
    attributes_.reset();
    {
      protozero::pbf_writer st(*span_, pb::span::kStatus);
      if (code == StatusCode::kError && !message.empty()) st.add_string(pb::status::kMessage, message.data(), message.size());
      st.add_enum(pb::status::kCode, static_cast<int32_t>(code));
    }
    span_.reset();  // writes the span's length
  }
  pb::Attributes& attributes() { return *attributes_; }

 private:
  std::string* out_;
  protozero::pbf_writer batch_;
  std::optional<protozero::pbf_writer> span_, event_;
  std::optional<pb::Attributes> attributes_;
};

void beginSpan(ProtoSpan& p, const SpanHead& h) { p.begin(h); }
void endAttributes(ProtoSpan&) {}
void beginEvent(ProtoSpan& p, uint64_t time_unix_ns, std::string_view name) { p.beginEvent(time_unix_ns, name); }
void endEvent(ProtoSpan& p) { p.endEvent(); }
void endSpan(ProtoSpan& p, StatusCode code, std::string_view message) { p.end(code, message); }

// The attribute writers, for protobuf spans: those of otlp_proto.h on the span's open list.
void writeStringAttribute(ProtoSpan& p, std::string_view k, std::string_view v) { pb::writeStringAttribute(p.attributes(), k, v); }
void writeIntAttribute(ProtoSpan& p, std::string_view k, int64_t v) { pb::writeIntAttribute(p.attributes(), k, v); }
void writeDoubleAttribute(ProtoSpan& p, std::string_view k, double v) { pb::writeDoubleAttribute(p.attributes(), k, v); }
void writeBoolAttribute(ProtoSpan& p, std::string_view k, bool v) { pb::writeBoolAttribute(p.attributes(), k, v); }
void writeStringArrayAttribute(ProtoSpan& p, std::string_view k, const std::vector<std::string_view>& v) {
  pb::writeStringArrayAttribute(p.attributes(), k, v);
}
void writeTypedAttribute(ProtoSpan& p, std::string_view k, std::string_view text) { pb::writeTypedAttribute(p.attributes(), k, text); }

template <class W>
void writeUsage(W& w, const outrigger_record_view& r) {
  writeIntAttribute(w, "gen_ai.usage.input_tokens", r.usage.prompt_tokens);
  writeIntAttribute(w, "gen_ai.usage.output_tokens", r.usage.completion_tokens);
  if (r.usage.cached_tokens) writeIntAttribute(w, "gen_ai.usage.cache_read.input_tokens", r.usage.cached_tokens);
  bool priced_tail = r.hdr.struct_size >= OUTRIGGER_SIZE_THROUGH(outrigger_record_view, cost_unpriced);
  if (priced_tail && r.cache_write_tokens) {
    writeIntAttribute(w, "gen_ai.usage.cache_creation.input_tokens", r.cache_write_tokens);
  }
  if (r.usage.reasoning_tokens) writeIntAttribute(w, "gen_ai.usage.reasoning.output_tokens", r.usage.reasoning_tokens);
}

template <class W>
void writeContent(W& w, const outrigger_record_view& r) {
  if (!hasTrace(r) || r.capture != OUTRIGGER_CAPTURE_FULL) return;
  writeStringAttribute(w, "gen_ai.input.messages", inputMessagesJson(r));
  writeStringAttribute(w, "gen_ai.output.messages", outputMessagesJson(r));
}

template <class W>
void writeRequestAttributes(W& w, const outrigger_record_view& r) {
  writeBoolAttribute(w, "gen_ai.request.stream", r.stream != 0);
  if (r.metadata && r.metadata->session.size) writeStringAttribute(w, "gen_ai.conversation.id", sv(r.metadata->session));
}

// The first chunk as seen from an attempt that started at `start_unix_ns`, in seconds.
template <class W>
void writeTimeToFirstChunk(W& w, const outrigger_record_view& r, uint64_t start_unix_ns) {
  if (!r.stream || !r.time_to_first_chunk_ns) return;
  uint64_t first = r.start_unix_ns + r.time_to_first_chunk_ns;
  if (first < start_unix_ns) return;
  writeDoubleAttribute(w, "gen_ai.response.time_to_first_chunk", static_cast<double>(first - start_unix_ns) / 1e9);
}

template <class W>
void writeRoot(W& w, const outrigger_record_view& r, bool content_here) {
  std::string_view op = operationOf(r);
  std::string_view model = requestModel(r);
  std::string name = spanName(op, model);
  beginSpan(w, {sv(r.trace_id), sv(r.root_span_id), sv(r.root_parent_span_id), name, SpanKind::kServer,
                r.start_unix_ns, r.start_unix_ns + r.duration_ns});
  writeStringAttribute(w, "gen_ai.operation.name", op);
  if (!model.empty()) writeStringAttribute(w, "gen_ai.request.model", model);
  if (r.code == OUTRIGGER_CODE_OK && r.model.size) writeStringAttribute(w, "gen_ai.response.model", sv(r.model));
  if (r.provider.size) writeStringAttribute(w, "gen_ai.provider.name", sv(r.provider));
  writeRequestAttributes(w, r);
  if (r.finish_reason.size) writeStringArrayAttribute(w, "gen_ai.response.finish_reasons", {sv(r.finish_reason)});
  writeUsage(w, r);
  writeTimeToFirstChunk(w, r, r.start_unix_ns);
  if (r.code != OUTRIGGER_CODE_OK) writeStringAttribute(w, "error.type", codeName(r.code));
  writeStringAttribute(w, "outrigger.route", sv(r.route));
  writeStringAttribute(w, "outrigger.status", codeName(r.code));
  writeBoolAttribute(w, "outrigger.cache.hit", r.cache_hit != 0);
  writeDoubleAttribute(w, "outrigger.cost_usd", r.cost_usd);
  if (r.origin.size) writeStringAttribute(w, "outrigger.origin", sv(r.origin));
  if (const outrigger_metadata_view* m = r.metadata) {
    if (m->tenant.size) writeStringAttribute(w, "outrigger.tenant", sv(m->tenant));
    if (m->request_id.size) writeStringAttribute(w, "outrigger.request_id", sv(m->request_id));
    if (m->prompt_id.size) writeStringAttribute(w, "outrigger.prompt_id", sv(m->prompt_id));
    if (m->prompt_version.size) writeStringAttribute(w, "outrigger.prompt_version", sv(m->prompt_version));
    for (size_t i = 0; i < m->tag_count; ++i) {
      writeStringAttribute(w, "outrigger.tag." + std::string(sv(m->tags[i].key)), sv(m->tags[i].value));
    }
  }
  if (content_here) writeContent(w, r);
  endAttributes(w);
  bool failed = r.code != OUTRIGGER_CODE_OK;
  endSpan(w, failed ? StatusCode::kError : StatusCode::kUnset, r.message.size ? sv(r.message) : codeName(r.code));
}

template <class W>
void writeHostAttributes(W& w, const outrigger_span_trace_view* t) {
  for (size_t i = 0; t && i < t->attribute_count; ++i) {
    writeTypedAttribute(w, sv(t->attributes[i].key), sv(t->attributes[i].value));
  }
}

template <class W>
void writeStageAttributes(W& w, const outrigger_span_view& s) {
  writeStringAttribute(w, "outrigger.stage", sv(s.stage));
  writeStringAttribute(w, "outrigger.instance", sv(s.instance));
  if (s.outcome.size) writeStringAttribute(w, "outrigger.outcome", sv(s.outcome));
}

template <class W>
void writeAttempt(W& w, const outrigger_record_view& r, size_t i, bool answering) {
  const outrigger_span_view& s = r.spans[i];
  const outrigger_span_trace_view* t = traceOf(r, i);
  std::string_view op = attribute(t, "gen_ai.operation.name");
  if (op.empty()) op = sv(s.stage) == "provider.embed" ? "embeddings" : "chat";
  std::string_view model = attribute(t, "gen_ai.request.model");
  std::string name = spanName(op, model.empty() ? sv(r.model) : model);
  beginSpan(w, {sv(r.trace_id), sv(t->span_id), sv(t->parent_span_id), name, SpanKind::kClient, t->start_unix_ns,
                t->start_unix_ns + s.duration_ns});
  writeHostAttributes(w, t);
  writeRequestAttributes(w, r);
  writeStageAttributes(w, s);
  if (answering) {
    if (r.finish_reason.size) writeStringArrayAttribute(w, "gen_ai.response.finish_reasons", {sv(r.finish_reason)});
    writeTimeToFirstChunk(w, r, t->start_unix_ns);
    writeContent(w, r);
  }
  endAttributes(w);
  std::string_view status = attribute(t, "outrigger.status");
  bool failed = !status.empty() && status != "OK" && status != "CANCELLED";
  std::string_view message = answering && r.code != OUTRIGGER_CODE_OK && r.message.size ? sv(r.message) : status;
  endSpan(w, failed ? StatusCode::kError : StatusCode::kUnset, message);
}

std::string_view reasonOf(const outrigger_record_view& r, std::string_view guardrail) {
  for (size_t i = 0; i < r.verdict_count; ++i) {
    if (sv(r.verdicts[i].guardrail) == guardrail) return sv(r.verdicts[i].reason);
  }
  return {};
}

// The guardrail's own result: the verdict it gave (outrigger's native result, not a translation
// into allow/deny), where it looked, and its reason.
template <class W>
void writeGuardrailResult(W& w, const outrigger_record_view& r, const outrigger_span_view& s,
                          const outrigger_span_trace_view* t) {
  std::string_view verdict = attribute(t, "outrigger.guardrail.verdict");
  writeStringAttribute(w, "gen_ai.guardrail.component.name", sv(s.instance));
  std::string_view source = attribute(t, "outrigger.guardrail.source");
  if (!source.empty()) writeStringAttribute(w, "gen_ai.guardrail.source", source);
  if (!verdict.empty()) {
    writeStringAttribute(w, "gen_ai.guardrail.result.type", "outrigger.verdict");
    writeStringAttribute(w, "gen_ai.guardrail.result.value", verdict);
  }
  std::string_view reason = reasonOf(r, sv(s.instance));
  if (!reason.empty()) writeStringAttribute(w, "gen_ai.guardrail.result.reason", reason);
}

template <class W>
void writeGuardrail(W& w, const outrigger_record_view& r, size_t i) {
  const outrigger_span_view& s = r.spans[i];
  const outrigger_span_trace_view* t = traceOf(r, i);
  std::string name = "apply_guardrail " + std::string(sv(s.instance));
  uint64_t end = t->start_unix_ns + s.duration_ns;
  beginSpan(w, {sv(r.trace_id), sv(t->span_id), sv(t->parent_span_id), name, SpanKind::kInternal, t->start_unix_ns, end});
  writeStringAttribute(w, "gen_ai.operation.name", "apply_guardrail");
  writeGuardrailResult(w, r, s, t);
  writeHostAttributes(w, t);
  writeStageAttributes(w, s);
  endAttributes(w);
  beginEvent(w, end, "gen_ai.guardrail.result");
  writeGuardrailResult(w, r, s, t);
  endEvent(w);
  bool failed = sv(s.outcome) == "error";
  endSpan(w, failed ? StatusCode::kError : StatusCode::kUnset, "guardrail hook failed");
}

template <class W>
void writeStage(W& w, const outrigger_record_view& r, size_t i) {
  const outrigger_span_view& s = r.spans[i];
  const outrigger_span_trace_view* t = traceOf(r, i);
  std::string name = spanName(sv(s.stage), sv(s.instance));
  beginSpan(w, {sv(r.trace_id), sv(t->span_id), sv(t->parent_span_id), name, SpanKind::kInternal, t->start_unix_ns,
                t->start_unix_ns + s.duration_ns});
  writeHostAttributes(w, t);
  writeStageAttributes(w, s);
  endAttributes(w);
  bool failed = sv(s.outcome) == "error";
  endSpan(w, failed ? StatusCode::kError : StatusCode::kUnset, "stage failed");
}

void writeArguments(JsonWriter& w, std::string_view arguments) {
  rapidjson::Document d;
  if (!arguments.empty() && json::parse(arguments, &d)) {
    w.RawValue(arguments.data(), arguments.size(), d.GetType());
  } else {
    writeString(w, arguments);
  }
}

void writeToolCallParts(JsonWriter& w, const outrigger_tool_call_view* calls, size_t count) {
  for (size_t i = 0; calls && i < count; ++i) {
    w.StartObject();
    w.Key("type");
    w.String("tool_call");
    w.Key("id");
    writeString(w, sv(calls[i].id));
    w.Key("name");
    writeString(w, sv(calls[i].name));
    w.Key("arguments");
    writeArguments(w, sv(calls[i].arguments));
    w.EndObject();
  }
}

void writeTextPart(JsonWriter& w, std::string_view text) {
  w.StartObject();
  w.Key("type");
  w.String("text");
  w.Key("content");
  writeString(w, text);
  w.EndObject();
}

}  // namespace

// RapidJSON reserves six bytes a character of a string, so this keeps the buffer through
// captured prompts of a megabyte or so and frees it after larger ones.
constexpr size_t kKeptBufferBytes = 8 << 20;

namespace {

// The root, then every span with a usable id, in the record's order; `between` runs before each
// span but the first. Returns how many spans were written.
template <class W, class Between>
uint32_t writeRecord(W& w, const outrigger_record_view& r, Between&& between) {
  int answering = answeringAttempt(r);
  uint32_t n = 1;
  writeRoot(w, r, answering < 0);
  for (size_t i = 0; i < r.span_count; ++i) {
    const outrigger_span_trace_view* t = traceOf(r, i);
    if (!t || !isHexId(sv(t->span_id), 16)) continue;
    between();
    std::string_view stage = sv(r.spans[i].stage);
    if (isAttempt(stage)) writeAttempt(w, r, i, static_cast<int>(i) == answering);
    else if (isGuardrail(stage)) writeGuardrail(w, r, i);
    else writeStage(w, r, i);
    ++n;
  }
  return n;
}

uint32_t appendJsonSpans(const outrigger_record_view& r, std::string* out) {
  // One buffer per thread, kept: a record's spans (some 6 KB) are written without allocating
  // or regrowing, then copied once onto the batch. Freed after a record past kKeptBufferBytes.
  static thread_local json::JsonBuffer buf;
  buf.clear();
  JsonWriter w(buf);
  uint32_t n = writeRecord(w, r, [&] {
    buf.Put(',');
    w.Reset(buf);
  });
  if (!out->empty()) out->push_back(',');
  out->append(buf.view());
  if (buf.capacity() > kKeptBufferBytes) buf.release();
  return n;
}

}  // namespace

uint32_t appendRecordSpans(const outrigger_record_view& r, Encoding encoding, std::string* out) {
  if (!hasTrace(r) || !isHexId(sv(r.trace_id), 32) || !isHexId(sv(r.root_span_id), 16)) return 0;
  if (encoding == Encoding::kJson) return appendJsonSpans(r, out);
  ProtoSpan spans(out);  // straight onto the batch: protobuf needs no separators
  return writeRecord(spans, r, [] {});
}

std::string tracesRequest(Encoding encoding, std::string_view resource, std::string_view spans) {
  if (encoding == Encoding::kProtobuf) return pb::exportRequest(resource, spans);
  std::string body;
  body.reserve(spans.size() + resource.size() + 128);
  body.append(R"({"resourceSpans":[{"resource":)").append(resource);
  body.append(R"(,"scopeSpans":[{"scope":)").append(scopeJson()).append(R"(,"spans":[)");
  body.append(spans).append("]}]}]}");
  return body;
}

std::string inputMessagesJson(const outrigger_record_view& r) {
  json::JsonBuffer buf;
  JsonWriter w(buf);
  w.StartArray();
  for (size_t i = 0; r.prompt && i < r.prompt_count; ++i) {
    const outrigger_message_view& m = r.prompt[i];
    w.StartObject();
    w.Key("role");
    writeString(w, sv(m.role));
    w.Key("parts");
    w.StartArray();
    if (sv(m.role) == "tool") {
      w.StartObject();
      w.Key("type");
      w.String("tool_call_response");
      w.Key("id");
      writeString(w, sv(m.tool_call_id));
      w.Key("response");
      writeString(w, sv(m.content));
      w.EndObject();
    } else {
      if (m.content.size) writeTextPart(w, sv(m.content));
      writeToolCallParts(w, m.tool_calls, m.tool_call_count);
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  return std::string(buf.view());
}

std::string outputMessagesJson(const outrigger_record_view& r) {
  json::JsonBuffer buf;
  JsonWriter w(buf);
  w.StartArray();
  w.StartObject();
  w.Key("role");
  w.String("assistant");
  w.Key("parts");
  w.StartArray();
  if (r.answer.size) writeTextPart(w, sv(r.answer));
  writeToolCallParts(w, r.answer_tool_calls, r.answer_tool_call_count);
  w.EndArray();
  w.Key("finish_reason");
  writeString(w, r.finish_reason.size ? sv(r.finish_reason) : std::string_view("stop"));
  w.EndObject();
  w.EndArray();
  return std::string(buf.view());
}

}  // namespace outrigger::otlp
