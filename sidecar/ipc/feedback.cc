#include "ipc/feedback.h"

#include "common/clock.h"
#include "outrigger_generated.h"

namespace outrigger::ipc {
namespace {

std::string text(const flatbuffers::String* s) { return s ? s->str() : std::string(); }

}  // namespace

std::shared_ptr<telemetry::FeedbackRecord> feedbackRecordOf(const wire::Feedback& f, const std::string* tenant) {
  auto r = std::make_shared<telemetry::FeedbackRecord>();
  r->trace_id = text(f.trace_id());
  r->score = f.score();
  r->comment = text(f.comment());
  r->received_unix_ns = wallNowNs();
  if (const wire::Metadata* md = f.metadata()) {
    r->metadata = {text(md->tenant()),    text(md->user()),      text(md->session()),     text(md->request_id()),
                   text(md->prompt_id()), text(md->prompt_version()), text(md->traceparent()), {}};
    if (const auto* tags = md->tags()) {
      for (const wire::Tag* tag : *tags) r->metadata.tags.emplace_back(text(tag->key()), text(tag->value()));
    }
  }
  if (tenant) r->metadata.tenant = *tenant;
  return r;
}

}  // namespace outrigger::ipc
