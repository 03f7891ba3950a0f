#include "telemetry/record_view.h"

#include "chain/owned_messages.h"

namespace outrigger::telemetry {
namespace {

outrigger_str cstr(const std::string& s) { return {s.data(), s.size()}; }
outrigger_str cstr(std::string_view s) { return {s.data(), s.size()}; }

outrigger_metadata_view metadataView(const MetadataRecord& m, std::vector<outrigger_tag_view>* tags) {
  tags->reserve(m.tags.size());
  for (const auto& [k, v] : m.tags) tags->push_back({cstr(k), cstr(v)});
  return {cstr(m.tenant), cstr(m.user), cstr(m.session), cstr(m.request_id), cstr(m.prompt_id),
          cstr(m.prompt_version), tags->data(), tags->size(), cstr(m.traceparent)};
}

}  // namespace

RecordView::RecordView(const RequestRecord& r) {
  // Every array is sized once: a record is viewed on the exporter thread for each one exported.
  metadata_ = metadataView(r.metadata, &tags_);
  spans_.reserve(r.spans.size());
  for (const auto& s : r.spans) {
    spans_.push_back({cstr(s.stage), cstr(s.instance), s.start_ns, s.duration_ns, cstr(s.outcome)});
  }
  verdicts_.reserve(r.verdicts.size());
  for (const auto& v : r.verdicts) {
    verdicts_.push_back({cstr(v.guardrail), static_cast<outrigger_verdict>(v.kind), cstr(v.reason)});
  }
  view_.hdr = OUTRIGGER_HEADER_INIT(outrigger_record_view);
  view_.trace_id = cstr(r.trace_id);
  view_.route = cstr(r.route_name);
  view_.provider = cstr(r.provider);
  view_.model = cstr(r.model);
  view_.metadata = &metadata_;
  view_.start_unix_ns = r.start_unix_ns;
  view_.duration_ns = r.duration_ns;
  view_.time_to_first_chunk_ns = r.time_to_first_chunk_ns;
  view_.code = static_cast<outrigger_code>(r.code);
  view_.stream = r.stream;
  view_.cache_hit = r.cache_hit;
  view_.origin = cstr(r.origin);
  view_.message = cstr(r.message);
  view_.finish_reason = cstr(r.finish_reason);
  view_.usage = {r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.cached_tokens, r.usage.reasoning_tokens};
  view_.cost_usd = r.cost_usd;
  view_.cache_write_tokens = r.usage.cache_write_tokens;
  view_.cost_unpriced = r.cost_unpriced;
  view_.spans = spans_.data();
  view_.span_count = spans_.size();
  view_.verdicts = verdicts_.data();
  view_.verdict_count = verdicts_.size();
  addTrace(r);
  addContent(r);
}

void RecordView::addTrace(const RequestRecord& r) {
  size_t attribute_count = 0;
  for (const SpanRecord& s : r.spans) attribute_count += s.attributes.size();
  attributes_.reserve(attribute_count);  // never grows after this, so each span's pointer holds
  traces_.reserve(r.spans.size());
  for (const SpanRecord& s : r.spans) {
    const outrigger_attribute* first = attributes_.data() + attributes_.size();
    for (const auto& [k, v] : s.attributes) attributes_.push_back({cstr(k), cstr(v)});
    traces_.push_back({cstr(s.span_id), cstr(s.parent_span_id), s.start_unix_ns, first, s.attributes.size()});
  }
  view_.root_span_id = cstr(r.root_span_id);
  view_.root_parent_span_id = cstr(r.root_parent_span_id);
  view_.span_traces = traces_.data();
  view_.span_trace_size = sizeof(outrigger_span_trace_view);
}

void RecordView::addContent(const RequestRecord& r) {
  view_.capture = static_cast<outrigger_capture>(r.capture);
  if (r.prompt) {
    view_.prompt = r.prompt->data();
    view_.prompt_count = r.prompt->size();
  }
  view_.answer = cstr(r.answer);
  answer_calls_.reserve(r.answer_tool_calls.size());
  for (const ToolCall& c : r.answer_tool_calls) {
    answer_calls_.push_back({cstr(c.id), cstr(c.type), cstr(c.name), cstr(c.arguments)});
  }
  view_.answer_tool_calls = answer_calls_.empty() ? nullptr : answer_calls_.data();
  view_.answer_tool_call_count = answer_calls_.size();
}

FeedbackView::FeedbackView(const FeedbackRecord& f) {
  metadata_ = metadataView(f.metadata, &tags_);
  view_.hdr = OUTRIGGER_HEADER_INIT(outrigger_feedback_view);
  view_.trace_id = cstr(f.trace_id);
  view_.score = f.score;
  view_.comment = cstr(f.comment);
  view_.metadata = &metadata_;
  view_.received_unix_ns = f.received_unix_ns;
}

}  // namespace outrigger::telemetry
