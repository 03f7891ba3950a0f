#include "chain/request_views.h"

#include "outrigger_generated.h"

namespace outrigger::chain {
namespace {

namespace w = outrigger::wire;

outrigger_str view(const flatbuffers::String* s) {
  return s ? outrigger_str{s->c_str(), s->size()} : outrigger_str{nullptr, 0};
}

outrigger_str view(const std::string& s) { return {s.data(), s.size()}; }

// `n` uninitialised Ts from the arena (nullptr for none); every one is assigned before use.
template <class T>
T* allocate(std::pmr::memory_resource* arena, size_t n) {
  return n ? static_cast<T*>(arena->allocate(n * sizeof(T), alignof(T))) : nullptr;
}

}  // namespace

RequestViews viewsOf(const w::Request& r, std::pmr::memory_resource* arena) {
  RequestViews out;
  const auto* msgs = r.messages();
  out.message_count = msgs ? msgs->size() : 0;
  out.messages = allocate<outrigger_message_view>(arena, out.message_count);
  for (size_t i = 0; i < out.message_count; ++i) {
    const w::Message* m = msgs->Get(static_cast<flatbuffers::uoffset_t>(i));
    outrigger_message_view& mv = out.messages[i];
    mv = {view(m->role()), view(m->content()), view(m->name()), view(m->tool_call_id()), nullptr, 0};
    if (const auto* calls = m->tool_calls(); calls && calls->size()) {
      auto* cv = allocate<outrigger_tool_call_view>(arena, calls->size());
      for (flatbuffers::uoffset_t j = 0; j < calls->size(); ++j) {
        const w::ToolCall* c = calls->Get(j);
        cv[j] = {view(c->id()), view(c->type()), view(c->name()), view(c->arguments())};
      }
      mv.tool_calls = cv;
      mv.tool_call_count = calls->size();
    }
  }
  outrigger_params_view& params = out.params;
  if (const w::Params* p = r.params()) {
    if (p->temperature()) { params.present |= OUTRIGGER_PARAM_TEMPERATURE; params.temperature = *p->temperature(); }
    if (p->top_p()) { params.present |= OUTRIGGER_PARAM_TOP_P; params.top_p = *p->top_p(); }
    if (p->max_tokens()) { params.present |= OUTRIGGER_PARAM_MAX_TOKENS; params.max_tokens = *p->max_tokens(); }
    if (p->seed()) { params.present |= OUTRIGGER_PARAM_SEED; params.seed = *p->seed(); }
    if (const auto* stop = p->stop(); stop && stop->size()) {
      auto* sv = allocate<outrigger_str>(arena, stop->size());
      for (flatbuffers::uoffset_t j = 0; j < stop->size(); ++j) sv[j] = view(stop->Get(j));
      params.stop = sv;
      params.stop_count = stop->size();
    }
    if (const auto* tools = p->tools(); tools && tools->size()) {
      auto* tv = allocate<outrigger_tool_view>(arena, tools->size());
      for (flatbuffers::uoffset_t j = 0; j < tools->size(); ++j) {
        const w::Tool* t = tools->Get(j);
        tv[j] = {view(t->type()), view(t->name()), view(t->description()), view(t->parameters_json())};
      }
      params.tools = tv;
      params.tool_count = tools->size();
    }
    params.tool_choice = view(p->tool_choice());
    if (const w::ResponseFormat* rf = p->response_format()) {
      params.response_format = static_cast<outrigger_response_format>(rf->type());
      params.response_schema_name = view(rf->schema_name());
      params.response_schema_json = view(rf->schema_json());
      params.response_schema_strict = rf->strict();
    }
    params.extra_json = view(p->extra_json());
  }
  outrigger_metadata_view& md = out.metadata;
  if (const w::Metadata* m = r.metadata()) {
    md = {view(m->tenant()), view(m->user()), view(m->session()), view(m->request_id()), view(m->prompt_id()),
          view(m->prompt_version()), nullptr, 0, view(m->traceparent())};
    if (const auto* tags = m->tags(); tags && tags->size()) {
      auto* tv = allocate<outrigger_tag_view>(arena, tags->size());
      for (flatbuffers::uoffset_t j = 0; j < tags->size(); ++j) {
        tv[j] = {view(tags->Get(j)->key()), view(tags->Get(j)->value())};
      }
      md.tags = tv;
      md.tag_count = tags->size();
    }
  }
  out.model = r.model() ? r.model()->string_view() : std::string_view();
  out.timeout_ms = r.timeout_ms();
  out.stream = r.stream();
  if (const w::CacheControl* cc = r.cache()) {
    out.cache_bypass = cc->bypass();
    out.cache_no_store = cc->no_store();
    out.cache_ttl_ms = cc->ttl_ms();
  }
  return out;
}

RequestViews viewsOf(const CallInput& in, std::pmr::memory_resource* arena) {
  RequestViews out;
  out.message_count = in.messages.size();
  out.messages = allocate<outrigger_message_view>(arena, out.message_count);
  for (size_t i = 0; i < out.message_count; ++i) {
    const CallInput::Message& m = in.messages[i];
    outrigger_message_view& mv = out.messages[i];
    mv = {view(m.role), view(m.content), view(m.name), view(m.tool_call_id), nullptr, 0};
    if (!m.tool_calls.empty()) {
      auto* cv = allocate<outrigger_tool_call_view>(arena, m.tool_calls.size());
      for (size_t j = 0; j < m.tool_calls.size(); ++j) {
        const CallInput::ToolCall& c = m.tool_calls[j];
        cv[j] = {view(c.id), view(c.type), view(c.name), view(c.arguments)};
      }
      mv.tool_calls = cv;
      mv.tool_call_count = m.tool_calls.size();
    }
  }
  outrigger_params_view& params = out.params;
  if (in.temperature) { params.present |= OUTRIGGER_PARAM_TEMPERATURE; params.temperature = *in.temperature; }
  if (in.top_p) { params.present |= OUTRIGGER_PARAM_TOP_P; params.top_p = *in.top_p; }
  if (in.max_tokens) { params.present |= OUTRIGGER_PARAM_MAX_TOKENS; params.max_tokens = *in.max_tokens; }
  if (in.seed) { params.present |= OUTRIGGER_PARAM_SEED; params.seed = *in.seed; }
  if (!in.stop.empty()) {
    auto* sv = allocate<outrigger_str>(arena, in.stop.size());
    for (size_t j = 0; j < in.stop.size(); ++j) sv[j] = view(in.stop[j]);
    params.stop = sv;
    params.stop_count = in.stop.size();
  }
  if (!in.tools.empty()) {
    auto* tv = allocate<outrigger_tool_view>(arena, in.tools.size());
    for (size_t j = 0; j < in.tools.size(); ++j) {
      const CallInput::Tool& t = in.tools[j];
      tv[j] = {view(t.type), view(t.name), view(t.description), view(t.parameters_json)};
    }
    params.tools = tv;
    params.tool_count = in.tools.size();
  }
  params.tool_choice = view(in.tool_choice);
  params.response_format = static_cast<outrigger_response_format>(in.response_format);
  params.response_schema_name = view(in.response_schema_name);
  params.response_schema_json = view(in.response_schema_json);
  params.response_schema_strict = in.response_schema_strict;
  params.extra_json = view(in.extra_json);
  outrigger_metadata_view& md = out.metadata;
  md = {view(in.tenant), view(in.user), view(in.session), view(in.request_id), view(in.prompt_id),
        view(in.prompt_version), nullptr, 0, view(in.traceparent)};
  if (!in.tags.empty()) {
    auto* tv = allocate<outrigger_tag_view>(arena, in.tags.size());
    for (size_t j = 0; j < in.tags.size(); ++j) tv[j] = {view(in.tags[j].first), view(in.tags[j].second)};
    md.tags = tv;
    md.tag_count = in.tags.size();
  }
  out.model = in.model;
  out.timeout_ms = in.timeout_ms;
  out.stream = in.stream;
  out.cache_bypass = in.cache_bypass;
  out.cache_no_store = in.cache_no_store;
  out.cache_ttl_ms = in.cache_ttl_ms;
  return out;
}

// Every text the provider is sent, tool definitions included (twenty tools can be thousands of
// tokens), at 4 bytes a token, plus the chat format's 3 tokens a message and 3 for the reply.
uint64_t promptTokenEstimate(const outrigger_request_view& view) {
  uint64_t bytes = 0;
  for (size_t i = 0; i < view.message_count; ++i) {
    const outrigger_message_view& m = view.messages[i];
    bytes += m.role.size + m.content.size + m.name.size + m.tool_call_id.size;
    for (size_t j = 0; m.tool_calls && j < m.tool_call_count; ++j) {
      bytes += m.tool_calls[j].name.size + m.tool_calls[j].arguments.size;
    }
  }
  if (const outrigger_params_view* p = view.params) {
    for (size_t i = 0; p->tools && i < p->tool_count; ++i) {
      bytes += p->tools[i].name.size + p->tools[i].description.size + p->tools[i].parameters_json.size;
    }
  }
  return (bytes + 3) / 4 + 3 * uint64_t(view.message_count) + 3;
}

}  // namespace outrigger::chain
