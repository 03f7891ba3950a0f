#include "feedback_encoder.h"

#include <cmath>

#include "otlp_json.h"
#include "otlp_proto.h"

namespace outrigger::otlp {
namespace {

constexpr int kSeverityInfo = 9;  // OTLP SeverityNumber INFO

std::string_view sv(outrigger_str s) { return s.size ? std::string_view(s.data, s.size) : std::string_view(); }

std::string_view tagOf(const outrigger_metadata_view* m, std::string_view key) {
  for (size_t i = 0; m && i < m->tag_count; ++i) {
    if (sv(m->tags[i].key) == key) return sv(m->tags[i].value);
  }
  return {};
}

template <class W>
void writeMetadata(W& w, const outrigger_metadata_view* m) {
  if (!m) return;
  if (m->tenant.size) writeStringAttribute(w, "outrigger.tenant", sv(m->tenant));
  if (m->request_id.size) writeStringAttribute(w, "outrigger.request_id", sv(m->request_id));
  if (m->session.size) writeStringAttribute(w, "gen_ai.conversation.id", sv(m->session));
  for (size_t i = 0; i < m->tag_count; ++i) {
    std::string_view k = sv(m->tags[i].key);
    if (k == "gen_ai.evaluation.name" || k == "gen_ai.evaluation.score.label") continue;
    writeStringAttribute(w, "outrigger.tag." + std::string(k), sv(m->tags[i].value));
  }
}

// The attributes of the log record, in either encoding's attribute writer.
template <class W>
void writeFeedbackAttributes(W& w, const outrigger_feedback_view& f) {
  std::string_view trace_id = sv(f.trace_id);
  std::string_view name = tagOf(f.metadata, "gen_ai.evaluation.name");
  writeStringAttribute(w, "gen_ai.evaluation.name", name.empty() ? kDefaultEvaluationName : name);
  if (std::isfinite(f.score)) writeDoubleAttribute(w, "gen_ai.evaluation.score.value", f.score);
  if (std::string_view label = tagOf(f.metadata, "gen_ai.evaluation.score.label"); !label.empty()) {
    writeStringAttribute(w, "gen_ai.evaluation.score.label", label);
  }
  if (f.comment.size) writeStringAttribute(w, "gen_ai.evaluation.explanation", sv(f.comment));
  // A trace id that is not an OTLP one still says which answer this was.
  if (!trace_id.empty() && !isHexId(trace_id, 32)) writeStringAttribute(w, "outrigger.trace_id", trace_id);
  writeMetadata(w, f.metadata);
}

void appendJsonLog(const outrigger_feedback_view& f, std::string_view root_span_id, std::string* out) {
  json::JsonBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("timeUnixNano");
  writeInt64(w, f.received_unix_ns);
  w.Key("observedTimeUnixNano");
  writeInt64(w, f.received_unix_ns);
  w.Key("severityNumber");
  w.Int(kSeverityInfo);
  w.Key("eventName");
  w.String(kEvaluationEvent);
  std::string_view trace_id = sv(f.trace_id);
  if (isHexId(trace_id, 32)) {
    w.Key("traceId");
    writeString(w, trace_id);
    if (isHexId(root_span_id, 16)) {
      w.Key("spanId");
      writeString(w, root_span_id);
    }
  }
  w.Key("attributes");
  w.StartArray();
  writeFeedbackAttributes(w, f);
  w.EndArray();
  w.EndObject();
  if (!out->empty()) out->push_back(',');
  out->append(buf.view());
}

void appendProtoLog(const outrigger_feedback_view& f, std::string_view root_span_id, std::string* out) {
  protozero::pbf_writer batch(*out);
  protozero::pbf_writer log(batch, pb::scope_logs::kLogRecords);
  log.add_fixed64(pb::log_record::kTime, f.received_unix_ns);
  log.add_fixed64(pb::log_record::kObservedTime, f.received_unix_ns);
  log.add_enum(pb::log_record::kSeverityNumber, kSeverityInfo);
  log.add_string(pb::log_record::kEventName, kEvaluationEvent);
  std::string_view trace_id = sv(f.trace_id);
  if (isHexId(trace_id, 32)) {
    pb::IdBytes id = pb::idBytes(trace_id);
    log.add_bytes(pb::log_record::kTraceId, id.bytes, id.size);
    if (isHexId(root_span_id, 16)) {
      id = pb::idBytes(root_span_id);
      log.add_bytes(pb::log_record::kSpanId, id.bytes, id.size);
    }
  }
  pb::Attributes a(out, pb::log_record::kAttributes);
  writeFeedbackAttributes(a, f);
}

}  // namespace

void appendFeedbackLog(const outrigger_feedback_view& f, std::string_view root_span_id, Encoding encoding,
                       std::string* out) {
  if (encoding == Encoding::kProtobuf) appendProtoLog(f, root_span_id, out);
  else appendJsonLog(f, root_span_id, out);
}

std::string logsRequest(Encoding encoding, std::string_view resource, std::string_view log_records) {
  if (encoding == Encoding::kProtobuf) return pb::exportRequest(resource, log_records);
  std::string body;
  body.reserve(log_records.size() + resource.size() + 128);
  body.append(R"({"resourceLogs":[{"resource":)").append(resource);
  body.append(R"(,"scopeLogs":[{"scope":)").append(scopeJson()).append(R"(,"logRecords":[)");
  body.append(log_records).append("]}]}]}");
  return body;
}

}  // namespace outrigger::otlp
