#include "ipc/request_checks.h"

#include <cmath>

#include "common/message_roles.h"
#include "json/bounded_json.h"
#include "outrigger_generated.h"

namespace outrigger::ipc {
namespace {

bool utf8(const flatbuffers::String* s) { return !s || validUtf8(s->string_view()); }

// The refusal naming `field`; the name is only built for a refusal.
Status notUtf8(const std::string& field) { return Status(Code::kInvalidArgument, field + " is not valid UTF-8"); }

Status check(const flatbuffers::String* s, const char* field) { return utf8(s) ? Status::ok() : notUtf8(field); }

Status tooLong(const std::string& field, size_t limit) {
  return Status(Code::kInvalidArgument, field + " is longer than " + std::to_string(limit) + " bytes");
}

// An `n` above 1 in the extras would reach an OpenAI upstream, which bills n answers, while
// limiters reserve and the stream carries one: refused, as the HTTP front refuses it.
Status checkChoiceCount(const flatbuffers::String* extra_json) {
  if (!extra_json || extra_json->string_view().find("\"n\"") == std::string_view::npos) return Status::ok();
  rapidjson::Document extra;
  if (!json::parse(extra_json->string_view(), &extra) || !extra.IsObject()) return Status::ok();  // the provider says
  auto n = extra.FindMember("n");
  if (n == extra.MemberEnd() || n->value.IsNull() || (n->value.IsUint() && n->value.GetUint() == 1)) return Status::ok();
  return Status(Code::kInvalidArgument, "params.extra_json: only n = 1 is supported");
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
    if (value && value->size() > kMaxMetadataIdBytes) return tooLong(name, kMaxMetadataIdBytes);
  }
  if (const auto* tags = md->tags()) {
    if (tags->size() > kMaxTags) {
      return Status(Code::kInvalidArgument,
                    "metadata.tags has " + std::to_string(tags->size()) + " tags, more than " + std::to_string(kMaxTags));
    }
    for (const wire::Tag* tag : *tags) {
      if (Status s = check(tag->key(), "metadata.tags key"); !s.isOk()) return s;
      if (Status s = check(tag->value(), "metadata.tags value"); !s.isOk()) return s;
      if (tag->key() && tag->key()->size() > kMaxTagKeyBytes) return tooLong("a metadata.tags key", kMaxTagKeyBytes);
      if (tag->value() && tag->value()->size() > kMaxTagValueBytes) {
        // The key is optional on the wire (the HTTP front leaves an empty one out), and bounded.
        return tooLong("metadata.tags value of '" + (tag->key() ? tag->key()->str() : std::string()) + "'",
                       kMaxTagValueBytes);
      }
    }
  }
  return Status::ok();
}

// "messages[2]."
std::string item(const char* list, size_t i) { return std::string(list) + "[" + std::to_string(i) + "]."; }

Status checkMessages(const flatbuffers::Vector<flatbuffers::Offset<wire::Message>>* messages) {
  for (flatbuffers::uoffset_t i = 0; messages && i < messages->size(); ++i) {
    const wire::Message* m = messages->Get(i);
    for (auto [value, name] : {std::pair{m->content(), "content"}, {m->role(), "role"}, {m->name(), "name"},
                               {m->tool_call_id(), "tool_call_id"}}) {
      if (!utf8(value)) return notUtf8(item("messages", i) + name);
    }
    if (m->role() && !knownMessageRole(m->role()->string_view())) {
      return Status(Code::kInvalidArgument,
                    item("messages", i) + "role is not one of " + std::string(kKnownMessageRoles));
    }
    for (flatbuffers::uoffset_t c = 0; m->tool_calls() && c < m->tool_calls()->size(); ++c) {
      const wire::ToolCall* call = m->tool_calls()->Get(c);
      for (auto [value, name] : {std::pair{call->id(), "id"}, {call->type(), "type"}, {call->name(), "name"},
                                 {call->arguments(), "arguments"}}) {
        if (!utf8(value)) return notUtf8(item("messages", i) + item("tool_calls", c) + name);
      }
    }
  }
  return Status::ok();
}

Status checkParams(const wire::Params* p) {
  if (!p) return Status::ok();
  for (flatbuffers::uoffset_t i = 0; p->stop() && i < p->stop()->size(); ++i) {
    if (!utf8(p->stop()->Get(i))) return notUtf8("params.stop[" + std::to_string(i) + "]");
  }
  for (flatbuffers::uoffset_t i = 0; p->tools() && i < p->tools()->size(); ++i) {
    const wire::Tool* t = p->tools()->Get(i);
    for (auto [value, name] : {std::pair{t->type(), "type"}, {t->name(), "name"}, {t->description(), "description"},
                               {t->parameters_json(), "parameters_json"}}) {
      if (!utf8(value)) return notUtf8(item("params.tools", i) + name);
    }
  }
  const wire::ResponseFormat* f = p->response_format();
  // The verifier does not check enum ranges, and a value this daemon does not know must not
  // reach a provider as some other format.
  if (f && (f->type() < wire::ResponseFormatType::MIN || f->type() > wire::ResponseFormatType::MAX)) {
    return Status(Code::kInvalidArgument, "params.response_format.type " + std::to_string(int(f->type())) +
                                              " is not a known response format");
  }
  for (auto [value, name] : {std::pair{p->tool_choice(), "params.tool_choice"},
                             {f ? f->schema_name() : nullptr, "params.response_format.schema_name"},
                             {f ? f->schema_json() : nullptr, "params.response_format.schema_json"},
                             {p->extra_json(), "params.extra_json"}}) {
    if (!utf8(value)) return notUtf8(name);
  }
  return checkChoiceCount(p->extra_json());
}


// Adds up the bytes of every string the request refers to, each time it is referred to, and
// stops past `limit`.
class ReferencedBytes {
 public:
  explicit ReferencedBytes(size_t limit) : left_(limit) {}
  bool over() const { return over_; }
  void add(const flatbuffers::String* s) {
    if (!s || over_) return;
    if (s->size() > left_) over_ = true;
    else left_ -= s->size();
  }
  void add(const wire::Request& r) {
    add(r.model());
    for (flatbuffers::uoffset_t i = 0; r.messages() && i < r.messages()->size() && !over_; ++i) {
      const wire::Message* m = r.messages()->Get(i);
      for (const auto* s : {m->content(), m->role(), m->name(), m->tool_call_id()}) add(s);
      for (flatbuffers::uoffset_t c = 0; m->tool_calls() && c < m->tool_calls()->size() && !over_; ++c) {
        const wire::ToolCall* call = m->tool_calls()->Get(c);
        for (const auto* s : {call->id(), call->type(), call->name(), call->arguments()}) add(s);
      }
    }
    if (const wire::Params* p = r.params()) {
      for (flatbuffers::uoffset_t i = 0; p->stop() && i < p->stop()->size() && !over_; ++i) add(p->stop()->Get(i));
      for (flatbuffers::uoffset_t i = 0; p->tools() && i < p->tools()->size() && !over_; ++i) {
        const wire::Tool* t = p->tools()->Get(i);
        for (const auto* s : {t->type(), t->name(), t->description(), t->parameters_json()}) add(s);
      }
      const wire::ResponseFormat* f = p->response_format();
      for (const auto* s : {p->tool_choice(), f ? f->schema_name() : nullptr, f ? f->schema_json() : nullptr,
                            p->extra_json()}) {
        add(s);
      }
    }
    if (const wire::Metadata* md = r.metadata()) {
      for (const auto* s : {md->tenant(), md->user(), md->session(), md->request_id(), md->prompt_id(),
                            md->prompt_version(), md->traceparent()}) {
        add(s);
      }
      for (flatbuffers::uoffset_t i = 0; md->tags() && i < md->tags()->size() && !over_; ++i) {
        add(md->tags()->Get(i)->key());
        add(md->tags()->Get(i)->value());
      }
    }
  }

 private:
  size_t left_;
  bool over_ = false;
};

}  // namespace

Status checkRequestBounds(const wire::Request& r) {
  if (r.model() && r.model()->size() > kMaxModelBytes) return tooLong("model", kMaxModelBytes);
  if (const wire::Params* p = r.params(); p && p->tools() && p->tools()->size() > kMaxTools) {
    return Status(Code::kInvalidArgument, "params.tools has " + std::to_string(p->tools()->size()) +
                                              " tools, more than " + std::to_string(kMaxTools));
  }
  return checkMetadata(r.metadata());
}

Status checkRequestStrings(const wire::Request& r, size_t frame_bytes) {
  // FlatBuffers lets many fields point at one string: 100,000 messages sharing a 3 MiB content
  // would read as 300 GB to every check, guardrail and provider body after this one. Strings
  // written once each add up to less than their frame; twice it leaves room for a builder that
  // shares short ones (a role), and bounds what sharing can multiply.
  ReferencedBytes referenced(2 * frame_bytes);
  referenced.add(r);
  if (referenced.over()) {
    return Status(Code::kInvalidArgument,
                  "the request's strings add up to more than twice its frame: fields sharing strings are not accepted");
  }
  if (Status s = check(r.model(), "model"); !s.isOk()) return s;
  if (Status s = checkRequestBounds(r); !s.isOk()) return s;
  if (Status s = checkMessages(r.messages()); !s.isOk()) return s;
  return checkParams(r.params());
}

Status checkFeedbackStrings(const wire::Feedback& f) {
  if (!f.trace_id() || f.trace_id()->size() == 0) return Status(Code::kInvalidArgument, "feedback needs a trace_id");
  if (f.trace_id()->size() > kMaxFeedbackTraceIdBytes) {
    return Status(Code::kInvalidArgument,
                  "feedback trace_id is longer than " + std::to_string(kMaxFeedbackTraceIdBytes) + " bytes");
  }
  if (Status s = check(f.trace_id(), "trace_id"); !s.isOk()) return s;
  // A score is a number every store and answer can hold: JSON has no NaN or infinity, and SQLite
  // stores NaN as NULL.
  if (!std::isfinite(f.score())) return Status(Code::kInvalidArgument, "feedback score must be a finite number");
  if (Status s = check(f.comment(), "comment"); !s.isOk()) return s;
  if (f.comment() && f.comment()->size() > kMaxFeedbackCommentBytes) return tooLong("comment", kMaxFeedbackCommentBytes);
  return checkMetadata(f.metadata());
}

}  // namespace outrigger::ipc
