#include "span_encoder.h"

#include <outrigger/plugin.hpp>

#include <rapidjson/document.h>

#include <vector>

#include "bounded_json.h"

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

void startSpan(JsonWriter& w, const SpanHead& h) {
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
}

void writeStatus(JsonWriter& w, StatusCode code, std::string_view message) {
  w.Key("status");
  w.StartObject();
  if (code == StatusCode::kError && !message.empty()) {
    w.Key("message");
    writeString(w, message);
  }
  w.Key("code");
  w.Int(static_cast<int>(code));
  w.EndObject();
}

void writeUsage(JsonWriter& w, const outrigger_record_view& r) {
  writeIntAttribute(w, "gen_ai.usage.input_tokens", r.usage.prompt_tokens);
  writeIntAttribute(w, "gen_ai.usage.output_tokens", r.usage.completion_tokens);
  if (r.usage.cached_tokens) writeIntAttribute(w, "gen_ai.usage.cache_read.input_tokens", r.usage.cached_tokens);
  bool priced_tail = r.hdr.struct_size >= OUTRIGGER_SIZE_THROUGH(outrigger_record_view, cost_unpriced);
  if (priced_tail && r.cache_write_tokens) {
    writeIntAttribute(w, "gen_ai.usage.cache_creation.input_tokens", r.cache_write_tokens);
  }
  if (r.usage.reasoning_tokens) writeIntAttribute(w, "gen_ai.usage.reasoning.output_tokens", r.usage.reasoning_tokens);
}

void writeContent(JsonWriter& w, const outrigger_record_view& r) {
  if (!hasTrace(r) || r.capture != OUTRIGGER_CAPTURE_FULL) return;
  writeStringAttribute(w, "gen_ai.input.messages", inputMessagesJson(r));
  writeStringAttribute(w, "gen_ai.output.messages", outputMessagesJson(r));
}

void writeRequestAttributes(JsonWriter& w, const outrigger_record_view& r) {
  writeBoolAttribute(w, "gen_ai.request.stream", r.stream != 0);
  if (r.metadata && r.metadata->session.size) writeStringAttribute(w, "gen_ai.conversation.id", sv(r.metadata->session));
}

// The first chunk as seen from an attempt that started at `start_unix_ns`, in seconds.
void writeTimeToFirstChunk(JsonWriter& w, const outrigger_record_view& r, uint64_t start_unix_ns) {
  if (!r.stream || !r.time_to_first_chunk_ns) return;
  uint64_t first = r.start_unix_ns + r.time_to_first_chunk_ns;
  if (first < start_unix_ns) return;
  writeDoubleAttribute(w, "gen_ai.response.time_to_first_chunk", static_cast<double>(first - start_unix_ns) / 1e9);
}

void writeRoot(JsonWriter& w, const outrigger_record_view& r, bool content_here) {
  std::string_view op = operationOf(r);
  std::string_view model = requestModel(r);
  std::string name = spanName(op, model);
  startSpan(w, {sv(r.trace_id), sv(r.root_span_id), sv(r.root_parent_span_id), name, SpanKind::kServer,
                r.start_unix_ns, r.start_unix_ns + r.duration_ns});
  w.Key("attributes");
  w.StartArray();
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
  w.EndArray();
  bool failed = r.code != OUTRIGGER_CODE_OK;
  writeStatus(w, failed ? StatusCode::kError : StatusCode::kUnset, r.message.size ? sv(r.message) : codeName(r.code));
  w.EndObject();
}

void writeHostAttributes(JsonWriter& w, const outrigger_span_trace_view* t) {
  for (size_t i = 0; t && i < t->attribute_count; ++i) {
    writeTypedAttribute(w, sv(t->attributes[i].key), sv(t->attributes[i].value));
  }
}

void writeStageAttributes(JsonWriter& w, const outrigger_span_view& s) {
  writeStringAttribute(w, "outrigger.stage", sv(s.stage));
  writeStringAttribute(w, "outrigger.instance", sv(s.instance));
  if (s.outcome.size) writeStringAttribute(w, "outrigger.outcome", sv(s.outcome));
}

void writeAttempt(JsonWriter& w, const outrigger_record_view& r, size_t i, bool answering) {
  const outrigger_span_view& s = r.spans[i];
  const outrigger_span_trace_view* t = traceOf(r, i);
  std::string_view op = attribute(t, "gen_ai.operation.name");
  if (op.empty()) op = sv(s.stage) == "provider.embed" ? "embeddings" : "chat";
  std::string_view model = attribute(t, "gen_ai.request.model");
  std::string name = spanName(op, model.empty() ? sv(r.model) : model);
  startSpan(w, {sv(r.trace_id), sv(t->span_id), sv(t->parent_span_id), name, SpanKind::kClient, t->start_unix_ns,
                t->start_unix_ns + s.duration_ns});
  w.Key("attributes");
  w.StartArray();
  writeHostAttributes(w, t);
  writeRequestAttributes(w, r);
  writeStageAttributes(w, s);
  if (answering) {
    if (r.finish_reason.size) writeStringArrayAttribute(w, "gen_ai.response.finish_reasons", {sv(r.finish_reason)});
    writeTimeToFirstChunk(w, r, t->start_unix_ns);
    writeContent(w, r);
  }
  w.EndArray();
  std::string_view status = attribute(t, "outrigger.status");
  bool failed = !status.empty() && status != "OK" && status != "CANCELLED";
  std::string_view message = answering && r.code != OUTRIGGER_CODE_OK && r.message.size ? sv(r.message) : status;
  writeStatus(w, failed ? StatusCode::kError : StatusCode::kUnset, message);
  w.EndObject();
}

std::string_view reasonOf(const outrigger_record_view& r, std::string_view guardrail) {
  for (size_t i = 0; i < r.verdict_count; ++i) {
    if (sv(r.verdicts[i].guardrail) == guardrail) return sv(r.verdicts[i].reason);
  }
  return {};
}

// The guardrail's own result: the verdict it gave (outrigger's native result, not a translation
// into allow/deny), where it looked, and its reason.
void writeGuardrailResult(JsonWriter& w, const outrigger_record_view& r, const outrigger_span_view& s,
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

void writeGuardrail(JsonWriter& w, const outrigger_record_view& r, size_t i) {
  const outrigger_span_view& s = r.spans[i];
  const outrigger_span_trace_view* t = traceOf(r, i);
  std::string name = "apply_guardrail " + std::string(sv(s.instance));
  uint64_t end = t->start_unix_ns + s.duration_ns;
  startSpan(w, {sv(r.trace_id), sv(t->span_id), sv(t->parent_span_id), name, SpanKind::kInternal, t->start_unix_ns, end});
  w.Key("attributes");
  w.StartArray();
  writeStringAttribute(w, "gen_ai.operation.name", "apply_guardrail");
  writeGuardrailResult(w, r, s, t);
  writeHostAttributes(w, t);
  writeStageAttributes(w, s);
  w.EndArray();
  w.Key("events");
  w.StartArray();
  w.StartObject();
  w.Key("timeUnixNano");
  writeInt64(w, end);
  w.Key("name");
  w.String("gen_ai.guardrail.result");
  w.Key("attributes");
  w.StartArray();
  writeGuardrailResult(w, r, s, t);
  w.EndArray();
  w.EndObject();
  w.EndArray();
  bool failed = sv(s.outcome) == "error";
  writeStatus(w, failed ? StatusCode::kError : StatusCode::kUnset, "guardrail hook failed");
  w.EndObject();
}

void writeStage(JsonWriter& w, const outrigger_record_view& r, size_t i) {
  const outrigger_span_view& s = r.spans[i];
  const outrigger_span_trace_view* t = traceOf(r, i);
  std::string name = spanName(sv(s.stage), sv(s.instance));
  startSpan(w, {sv(r.trace_id), sv(t->span_id), sv(t->parent_span_id), name, SpanKind::kInternal, t->start_unix_ns,
                t->start_unix_ns + s.duration_ns});
  w.Key("attributes");
  w.StartArray();
  writeHostAttributes(w, t);
  writeStageAttributes(w, s);
  w.EndArray();
  bool failed = sv(s.outcome) == "error";
  writeStatus(w, failed ? StatusCode::kError : StatusCode::kUnset, "stage failed");
  w.EndObject();
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

uint32_t appendRecordSpans(const outrigger_record_view& r, std::string* out) {
  if (!hasTrace(r) || !isHexId(sv(r.trace_id), 32) || !isHexId(sv(r.root_span_id), 16)) return 0;
  int answering = answeringAttempt(r);
  // One buffer per thread, kept: a record's spans (some 6 KB) are written without allocating
  // or regrowing, then copied once onto the batch. Freed after a record past kKeptBufferBytes.
  static thread_local json::JsonBuffer buf;
  buf.clear();
  JsonWriter w(buf);
  uint32_t n = 1;
  writeRoot(w, r, answering < 0);
  for (size_t i = 0; i < r.span_count; ++i) {
    const outrigger_span_trace_view* t = traceOf(r, i);
    if (!t || !isHexId(sv(t->span_id), 16)) continue;
    buf.Put(',');
    w.Reset(buf);
    std::string_view stage = sv(r.spans[i].stage);
    if (isAttempt(stage)) writeAttempt(w, r, i, static_cast<int>(i) == answering);
    else if (isGuardrail(stage)) writeGuardrail(w, r, i);
    else writeStage(w, r, i);
    ++n;
  }
  if (!out->empty()) out->push_back(',');
  out->append(buf.view());
  if (buf.capacity() > kKeptBufferBytes) buf.release();
  return n;
}

std::string tracesRequest(std::string_view resource_json, std::string_view spans) {
  std::string body;
  body.reserve(spans.size() + resource_json.size() + 128);
  body.append(R"({"resourceSpans":[{"resource":)").append(resource_json);
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
