#include "ipc/request_checks.h"

#include "outrigger_generated.h"

namespace outrigger::ipc {
namespace {

Status check(const flatbuffers::String* s, const char* field) {
  if (!s || validUtf8(s->string_view())) return Status::ok();
  return Status(Code::kInvalidArgument, std::string(field) + " is not valid UTF-8");
}

Status checkMetadata(const wire::Metadata* md) {
  if (!md) return Status::ok();
  const std::pair<const flatbuffers::String*, const char*> fields[] = {
      {md->tenant(), "metadata.tenant"},         {md->user(), "metadata.user"},
      {md->session(), "metadata.session"},       {md->request_id(), "metadata.request_id"},
      {md->prompt_id(), "metadata.prompt_id"},   {md->prompt_version(), "metadata.prompt_version"},
      {md->traceparent(), "metadata.traceparent"}};
  for (const auto& [value, name] : fields) {
    if (Status s = check(value, name); !s.isOk()) return s;
  }
  if (const auto* tags = md->tags()) {
    for (const wire::Tag* tag : *tags) {
      if (Status s = check(tag->key(), "metadata.tags key"); !s.isOk()) return s;
      if (Status s = check(tag->value(), "metadata.tags value"); !s.isOk()) return s;
    }
  }
  return Status::ok();
}

}  // namespace

Status checkRequestStrings(const wire::Request& r) {
  if (Status s = check(r.model(), "model"); !s.isOk()) return s;
  return checkMetadata(r.metadata());
}

Status checkFeedbackStrings(const wire::Feedback& f) {
  if (!f.trace_id() || f.trace_id()->size() == 0) return Status(Code::kInvalidArgument, "feedback needs a trace_id");
  if (f.trace_id()->size() > kMaxFeedbackTraceIdBytes) {
    return Status(Code::kInvalidArgument,
                  "feedback trace_id is longer than " + std::to_string(kMaxFeedbackTraceIdBytes) + " bytes");
  }
  if (Status s = check(f.trace_id(), "trace_id"); !s.isOk()) return s;
  if (Status s = check(f.comment(), "comment"); !s.isOk()) return s;
  return checkMetadata(f.metadata());
}

}  // namespace outrigger::ipc
