// Model calls: the host's complete/embed run a route as a child of the calling request.
#include "chain/model_call.h"

#include <string>
#include <vector>

#include "chain/plugin_text.h"
#include "chain/request_context.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/message_roles.h"
#include "common/rate_limited_log.h"
#include "plugin/plugin_struct.h"
#include "plugin/str_view.h"

namespace outrigger::chain {
namespace {

constexpr size_t kMaxModelCalls = 64;  // per request: a plugin looping on calls is cut off

std::string str(outrigger_str s) { return std::string(sv(s)); }

// The child's input: the route by name, the caller's identity, a timeout within the caller's.
std::unique_ptr<CallInput> childInput(const outrigger_model_call& call, const outrigger_metadata_view& md,
                                      const std::string& traceparent, uint32_t timeout_ms, uint64_t deadline_ns) {
  auto in = std::make_unique<CallInput>();
  in->model = str(call.route);
  for (size_t i = 0; call.messages && i < call.message_count; ++i) {
    const outrigger_message_view& m = call.messages[i];
    CallInput::Message msg{str(m.role), str(m.content), str(m.name), str(m.tool_call_id), {}};
    for (size_t j = 0; m.tool_calls && j < m.tool_call_count; ++j) {
      const auto& c = m.tool_calls[j];
      msg.tool_calls.push_back({str(c.id), str(c.type), str(c.name), str(c.arguments)});
    }
    in->messages.push_back(std::move(msg));
  }
  if (const outrigger_params_view* p = call.params) {
    if (p->present & OUTRIGGER_PARAM_TEMPERATURE) in->temperature = p->temperature;
    if (p->present & OUTRIGGER_PARAM_TOP_P) in->top_p = p->top_p;
    if (p->present & OUTRIGGER_PARAM_MAX_TOKENS) in->max_tokens = p->max_tokens;
    if (p->present & OUTRIGGER_PARAM_SEED) in->seed = p->seed;
    for (size_t i = 0; p->stop && i < p->stop_count; ++i) in->stop.push_back(str(p->stop[i]));
    for (size_t i = 0; p->tools && i < p->tool_count; ++i) {
      const auto& t = p->tools[i];
      in->tools.push_back({str(t.type), str(t.name), str(t.description), str(t.parameters_json)});
    }
    in->tool_choice = str(p->tool_choice);
    in->response_format = p->response_format;
    in->response_schema_name = str(p->response_schema_name);
    in->response_schema_json = str(p->response_schema_json);
    in->response_schema_strict = p->response_schema_strict != 0;
    in->extra_json = str(p->extra_json);
  }
  in->tenant = str(md.tenant);
  in->user = str(md.user);
  in->session = str(md.session);
  in->request_id = str(md.request_id);
  in->prompt_id = str(md.prompt_id);
  in->prompt_version = str(md.prompt_version);
  for (size_t i = 0; md.tags && i < md.tag_count; ++i) in->tags.emplace_back(str(md.tags[i].key), str(md.tags[i].value));
  in->traceparent = traceparent;
  in->timeout_ms = timeout_ms;
  in->deadline_ns = deadline_ns;
  return in;
}

}  // namespace

outrigger_status RequestContext::startModelCall(plugin::PluginInstance* inst, const outrigger_model_call* plugin_call,
                                                outrigger_complete_callback complete, outrigger_embed_callback embed,
                                                void* user_data) {
  outrigger_model_call call;
  if (!plugin::copyPluginStruct(plugin_call, OUTRIGGER_MIN_SIZE_MODEL_CALL, &call) || (!complete == !embed)) {
    return OUTRIGGER_E_INVALID;
  }
  if (!modelCallTextIsUtf8(call)) {
    static RateLimitedLog log;
    log.write(LogLevel::kWarn, "plugin " + inst->name(), "model call refused: its text is not UTF-8");
    return OUTRIGGER_E_INVALID;  // as a caller's request with such text is refused at the fronts
  }
  if (!modelCallRolesAreKnown(call)) {
    static RateLimitedLog log;
    log.write(LogLevel::kWarn, "plugin " + inst->name(),
              std::string("model call refused: a message role is not one of ") + kKnownMessageRoles);
    return OUTRIGGER_E_INVALID;
  }
  for (size_t i = 0; embed && call.inputs && i < call.input_count; ++i) {
    if (call.inputs[i].size == 0) {  // as the fronts refuse one: a model has nothing to embed
      static RateLimitedLog log;
      log.write(LogLevel::kWarn, "plugin " + inst->name(), "model call refused: an input to embed is empty");
      return OUTRIGGER_E_INVALID;
    }
  }
  std::string route(sv(call.route));
  bool allowed = false;
  for (const std::string& r : route_->calls) allowed = allowed || r == route;
  if (!allowed || (complete && call.message_count == 0) || (embed && call.input_count == 0) ||
      model_calls_.size() >= kMaxModelCalls) {
    static RateLimitedLog log;
    log.write(LogLevel::kWarn, "plugin " + inst->name(),
              "model call refused: route '" + route_->name + "' may not call route '" + route +
                  "' (add it to the route's `calls`), the call is empty, or the request made too many");
    return OUTRIGGER_E_INVALID;
  }
  uint64_t now = monoNowNs();
  if (now >= deadline_ns_) return OUTRIGGER_E_STALE;
  uint32_t remaining_ms = uint32_t((deadline_ns_ - now) / 1000000) + 1;
  uint32_t timeout = call.timeout_ms && call.timeout_ms < remaining_ms ? call.timeout_ms : remaining_ms;
  // Never past the caller's own deadline, to the nanosecond: the child's is capped at it.
  // The child joins the caller's trace: its root span's parent is the caller's span for the call.
  std::string span_id = engine_.newTraceId().substr(0, 16);
  std::string traceparent = "00-" + trace_id_ + "-" + span_id + "-01";
  auto input = childInput(call, views_.metadata, traceparent, timeout, deadline_ns_);
  input->caller_timer_due_in_ms = uv_timer_get_due_in(&deadline_timer_);
  std::unique_ptr<EmbedInput> embed_input;
  if (embed) {
    embed_input = std::make_unique<EmbedInput>();
    for (size_t i = 0; call.inputs && i < call.input_count; ++i) embed_input->inputs.push_back(str(call.inputs[i]));
    embed_input->dimensions = call.dimensions;
  }
  spans_.push_back({embed ? "model.embed" : "model.complete", inst->name(), now, 0, ""});
  spans_.back().span_id = span_id;
  model_calls_.push_back(std::make_unique<ModelCall>(*this, spans_.size() - 1, complete, embed, user_data));
  ModelCall* mc = model_calls_.back().get();
  // It may end (and call back) before start returns: a refusal, a synchronous provider.
  outrigger_request child = engine_.startChild(std::move(input), std::move(embed_input), mc, chain_);
  mc->setChild(child);
  return OUTRIGGER_OK;
}

void RequestContext::cancelModelCalls() {
  for (auto& mc : model_calls_) {
    if (!mc->ended()) engine_.cancel(mc->child(), Code::kCancelled, "the calling request ended", "caller");
  }
}

void ModelCall::onEnd(uint64_t, const ResponseEndInfo& end) {
  if (ended_) return;
  ended_ = true;
  caller_.closeSpanAt(span_, end.code == Code::kOk ? "ok" : codeName(end.code));
  if (complete_) callComplete(end);
  else callEmbed(end);
}

void ModelCall::callComplete(const ResponseEndInfo& end) {
  std::vector<outrigger_tool_call_view> calls;
  if (end.tool_calls) {
    for (const ToolCall& c : *end.tool_calls) {
      calls.push_back({{c.id.data(), c.id.size()}, {c.type.data(), c.type.size()}, {c.name.data(), c.name.size()},
                       {c.arguments.data(), c.arguments.size()}});
    }
  }
  outrigger_response_view v{};
  v.hdr = OUTRIGGER_HEADER_INIT(outrigger_response_view);
  v.code = static_cast<outrigger_code>(end.code);
  v.retryable = end.retryable;
  v.retry_after_ms = end.retry_after_ms;
  v.message = {end.message.data(), end.message.size()};
  v.content = {end.content.data(), end.content.size()};
  v.finish_reason = {end.finish_reason.data(), end.finish_reason.size()};
  v.tool_calls = calls.empty() ? nullptr : calls.data();
  v.tool_call_count = calls.size();
  setUsage(&v, end.usage);
  v.cost_usd = end.cost_usd;
  v.model = {end.model.data(), end.model.size()};
  complete_(user_data_, &v);
}

void ModelCall::callEmbed(const ResponseEndInfo& end) {
  std::vector<outrigger_embedding_view> vectors;
  if (end.embeddings) {
    for (const auto& e : *end.embeddings) vectors.push_back({e.data(), e.size()});
  }
  outrigger_embeddings_view v{};
  v.hdr = OUTRIGGER_HEADER_INIT(outrigger_embeddings_view);
  v.code = static_cast<outrigger_code>(end.code);
  v.retryable = end.retryable;
  v.retry_after_ms = end.retry_after_ms;
  v.message = {end.message.data(), end.message.size()};
  v.embeddings = vectors.empty() ? nullptr : vectors.data();
  v.embedding_count = vectors.size();
  v.usage = {end.usage.prompt_tokens, 0, 0, 0};
  v.cost_usd = end.cost_usd;
  v.model = {end.model.data(), end.model.size()};
  embed_(user_data_, &v);
}

}  // namespace outrigger::chain
