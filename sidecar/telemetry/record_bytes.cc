#include "telemetry/record_bytes.h"

#include "chain/owned_messages.h"

namespace outrigger::telemetry {
namespace {

// A record's objects, its spans' and verdicts' included, before their strings.
constexpr size_t kRecordFixed = sizeof(RequestRecord) + 512;
constexpr size_t kPerSpan = sizeof(SpanRecord) + 64;

size_t metadataBytes(const MetadataRecord& m) {
  size_t n = m.tenant.size() + m.user.size() + m.session.size() + m.request_id.size() + m.prompt_id.size() +
             m.prompt_version.size() + m.traceparent.size();
  for (const auto& [key, value] : m.tags) n += key.size() + value.size() + 64;
  return n;
}

}  // namespace

size_t recordBytes(const RequestRecord& r) {
  size_t n = kRecordFixed + metadataBytes(r.metadata) + r.answer.size() + r.message.size();
  for (const ToolCall& c : r.answer_tool_calls) n += c.id.size() + c.name.size() + c.arguments.size() + 96;
  for (const SpanRecord& s : r.spans) {
    n += kPerSpan;
    for (const auto& [key, value] : s.attributes) n += value.size() + 48;
    if (s.attempt) n += sizeof(AttemptFacts) + s.attempt->extra_json.size();
  }
  for (const Verdict& v : r.verdicts) n += v.guardrail.size() + v.reason.size() + 64;
  if (r.prompt) {
    for (size_t i = 0; i < r.prompt->size(); ++i) {
      const outrigger_message_view& m = r.prompt->data()[i];
      n += m.content.size + m.role.size + m.name.size + m.tool_call_id.size + 64;
      for (size_t c = 0; c < m.tool_call_count; ++c) n += m.tool_calls[c].arguments.size + m.tool_calls[c].name.size + 64;
    }
  }
  return n;
}

size_t feedbackBytes(const FeedbackRecord& f) {
  return sizeof(FeedbackRecord) + 128 + f.trace_id.size() + f.comment.size() + metadataBytes(f.metadata);
}

}  // namespace outrigger::telemetry
