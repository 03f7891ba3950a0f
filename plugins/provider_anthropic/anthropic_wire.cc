#include "anthropic_wire.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "bounded_json.h"
#include "request_body.h"
#include "tool_choice.h"

namespace outrigger::providers::anthropic {
namespace {

using Writer = BodyWriter;
using Value = rapidjson::Value;

std::string_view sv(outrigger_str s) { return s.size ? std::string_view(s.data, s.size) : std::string_view(); }
void str(Writer& w, std::string_view s) { w.String(s.data() ? s.data() : "", rapidjson::SizeType(s.size())); }

std::string_view getString(const Value& obj, const char* name) {
  if (!obj.IsObject()) return {};
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || !it->value.IsString()) return {};
  return {it->value.GetString(), it->value.GetStringLength()};
}
uint32_t getUint(const Value& obj, const char* name) {
  if (!obj.IsObject()) return 0;
  auto it = obj.FindMember(name);
  return it != obj.MemberEnd() && it->value.IsUint() ? it->value.GetUint() : 0;
}
const Value* member(const Value& obj, const char* name) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(name);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

// Recursive, but only ever over documents json::parse bounded.
std::string toJson(const Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

bool isSystem(std::string_view role) { return role == "system" || role == "developer"; }

// One message's content blocks (text, tool_use, tool_result); `index` names it in refusals.
void writeBlocks(Writer& w, const outrigger_message_view& m, size_t index) {
  std::string_view role = sv(m.role);
  if (role == "tool") {
    w.StartObject();
    w.Key("type");
    w.String("tool_result");
    w.Key("tool_use_id");
    str(w, sv(m.tool_call_id));
    w.Key("content");
    str(w, sv(m.content));
    w.EndObject();
    return;
  }
  if (m.content.size) {
    w.StartObject();
    w.Key("type");
    w.String("text");
    w.Key("text");
    str(w, sv(m.content));
    w.EndObject();
  }
  for (size_t i = 0; i < m.tool_call_count; ++i) {
    const auto& c = m.tool_calls[i];
    w.StartObject();
    w.Key("type");
    w.String("tool_use");
    w.Key("id");
    str(w, sv(c.id));
    w.Key("name");
    str(w, sv(c.name));
    w.Key("input");
    w.embed(c.arguments.size ? sv(c.arguments) : "{}",
            "messages[" + std::to_string(index) + "].tool_calls[" + std::to_string(i) + "].arguments",
            NotJson::kAsEmptyObject);
    w.EndObject();
  }
}

// Anthropic roles are user and assistant only; tool results travel as user content. Adjacent
// messages of the same role merge into one message.
void writeMessages(Writer& w, const outrigger_request_view& r) {
  w.Key("messages");
  w.StartArray();
  std::string open_role;
  for (size_t i = 0; i < r.message_count; ++i) {
    const auto& m = r.messages[i];
    std::string_view role = sv(m.role);
    if (isSystem(role)) continue;
    // An assistant turn with neither text nor calls (OpenAI takes "content": "") would go out as
    // "content": [], which Anthropic refuses: it said nothing, so it is left out.
    if (role == "assistant" && !m.content.size && !m.tool_call_count) continue;
    std::string wire_role = role == "assistant" ? "assistant" : "user";
    if (wire_role != open_role) {
      if (!open_role.empty()) {
        w.EndArray();
        w.EndObject();
      }
      w.StartObject();
      w.Key("role");
      str(w, wire_role);
      w.Key("content");
      w.StartArray();
      open_role = wire_role;
    }
    writeBlocks(w, m, i);
  }
  if (!open_role.empty()) {
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
}

// `serial`: the caller asked for one tool call at a time (OpenAI's parallel_tool_calls: false).
// An OpenAI setting Anthropic has no field for, at the value that asks for nothing (n 1, store
// false, penalties 0, null): an OpenAI SDK's caller pointed at a Claude model sends them, and the
// Messages API refuses any field it does not know. Any other value still goes, so Anthropic's
// error names the setting rather than it being ignored.
bool openAiDefault(std::string_view name, const Value& v) {
  static const char* kOpenAiOnly[] = {"n", "store", "logprobs", "top_logprobs", "presence_penalty",
                                      "frequency_penalty", "logit_bias", "seed", "reasoning_effort",
                                      "modalities", "prediction", "stream_options", "verbosity"};
  bool openai_only = false;
  for (const char* k : kOpenAiOnly) openai_only = openai_only || name == k;
  if (!openai_only) return false;
  if (v.IsNull()) return true;
  if (name == "n") return v.IsNumber() && v.GetDouble() == 1;
  if (name == "store" || name == "logprobs") return v.IsBool() && !v.GetBool();
  if (name == "top_logprobs" || name == "presence_penalty" || name == "frequency_penalty") {
    return v.IsNumber() && v.GetDouble() == 0;
  }
  if (name == "logit_bias") return v.IsObject() && v.MemberCount() == 0;
  if (name == "stream_options") return true;  // usage in a stream: Anthropic always reports it
  if (name == "modalities") return v.IsArray() && v.Size() == 1 && v[0].IsString() && v[0].GetString() == std::string_view("text");
  if (name == "verbosity") return v.IsString() && v.GetString() == std::string_view("medium");
  return false;
}

void writeToolChoice(Writer& w, std::string_view tc, bool serial) {
  w.Key("tool_choice");
  w.StartObject();
  w.Key("type");
  if (tc == "required") w.String("any");
  else if (tc == "none") w.String("none");
  else if (json::isToolChoiceObject(tc)) {
    rapidjson::Document d;
    std::string_view name;
    if (w.parse(tc, "params.tool_choice", &d)) name = json::toolChoiceObjectName(d);
    w.String("tool");
    w.Key("name");
    str(w, name);
  } else if (tc == "auto" || tc.empty()) {
    w.String("auto");
  } else {
    // Anything else names the one tool the model must call.
    w.String("tool");
    w.Key("name");
    str(w, tc);
  }
  if (serial && tc != "none") {  // only auto, any and tool take it
    w.Key("disable_parallel_tool_use");
    w.Bool(true);
  }
  w.EndObject();
}

// The end user the caller named, as Anthropic's metadata.user_id, unless the caller sent its own
// metadata (which goes through with the extra fields).
void writeUser(Writer& w, std::string_view user) {
  if (user.empty()) return;
  w.Key("metadata");
  w.StartObject();
  w.Key("user_id");
  str(w, user);
  w.EndObject();
}

void writeParams(Writer& w, const outrigger_params_view& p, std::string_view user) {
  if (p.present & OUTRIGGER_PARAM_TEMPERATURE) {
    w.Key("temperature");
    w.shortestFloat(p.temperature);
  }
  if (p.present & OUTRIGGER_PARAM_TOP_P) {
    w.Key("top_p");
    w.shortestFloat(p.top_p);
  }
  if (p.stop_count) {
    w.Key("stop_sequences");
    w.StartArray();
    for (size_t i = 0; i < p.stop_count; ++i) str(w, sv(p.stop[i]));
    w.EndArray();
  }
  if (p.tool_count) {
    w.Key("tools");
    w.StartArray();
    for (size_t i = 0; i < p.tool_count; ++i) {
      const auto& t = p.tools[i];
      w.StartObject();
      w.Key("name");
      str(w, sv(t.name));
      if (t.description.size) {
        w.Key("description");
        str(w, sv(t.description));
      }
      w.Key("input_schema");
      w.embed(t.parameters_json.size ? sv(t.parameters_json) : R"({"type":"object"})",
              "params.tools[" + std::to_string(i) + "].parameters_json", NotJson::kAsEmptyObject);
      w.EndObject();
    }
    w.EndArray();
  }
  rapidjson::Document extra;
  bool has_extra = p.extra_json.size && w.parse(sv(p.extra_json), "params.extra_json", &extra) && extra.IsObject();
  // OpenAI's parallel_tool_calls is Anthropic's tool_choice.disable_parallel_tool_use; the API
  // refuses the OpenAI name, so it never goes through as an extra.
  bool serial = false;
  if (has_extra) {
    auto it = extra.FindMember("parallel_tool_calls");
    serial = it != extra.MemberEnd() && it->value.IsBool() && !it->value.GetBool();
  }
  if (p.tool_count && (p.tool_choice.size || serial)) writeToolChoice(w, sv(p.tool_choice), serial);
  if (has_extra) {
    static const char* kOwn[] = {"model", "messages", "system", "max_tokens", "stream", "temperature", "top_p",
                                 "stop_sequences", "tools", "tool_choice", "parallel_tool_calls",
                                 "response_format"};
    for (auto& m : extra.GetObject()) {
      std::string_view name(m.name.GetString(), m.name.GetStringLength());
      bool own = false;
      for (const char* k : kOwn) own = own || name == k;
      if (own || openAiDefault(name, m.value)) continue;
      str(w, name);
      m.value.Accept(w);
    }
  }
  if (!has_extra || !extra.HasMember("metadata")) writeUser(w, user);
}

Failure malformed(const std::string& what) {
  return Failure{OUTRIGGER_CODE_UNAVAILABLE, true, 0, "upstream answer unusable: " + what};
}

// A count overwrites what an earlier event said only when it is one: the SDK's message_delta
// usage declares its input and cache counts optional, and a null there is not a zero.
void readUsage(const Value& usage, uint32_t* input, uint32_t* creation, uint32_t* read, uint32_t* output) {
  if (!usage.IsObject()) return;
  auto take = [&](const char* name, uint32_t* out) {
    if (const Value* v = member(usage, name); v && v->IsUint()) *out = v->GetUint();
  };
  take("input_tokens", input);
  take("cache_creation_input_tokens", creation);
  take("cache_read_input_tokens", read);
  take("output_tokens", output);
}

// Anthropic's input_tokens excludes the prompt cache's reads and writes; the host's
// prompt_tokens includes both, with the reads as cached_tokens and the writes as
// cache_write_tokens, so each input token is priced once (cache writes cost more than input).
// The sum saturates, so counts that add up past 2^32 never wrap below the reads and writes in it.
void setUsage(Answer* answer, uint32_t input, uint32_t creation, uint32_t read, uint32_t output) {
  uint32_t prompt = uint32_t(std::min<uint64_t>(uint64_t{input} + creation + read, UINT32_MAX));
  answer->usage = {prompt, output, read, 0};
  answer->cache_write_tokens = std::min(creation, prompt - read);
  answer->has_usage = true;
}

}  // namespace

bool buildMessagesRequest(const outrigger_request_view& request, const WireSettings& settings, std::string* body,
                          Failure* failure) {
  json::JsonBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("model");
  str(w, settings.model.empty() ? sv(request.model) : std::string_view(settings.model));
  std::string system;
  for (size_t i = 0; i < request.message_count; ++i) {
    if (!isSystem(sv(request.messages[i].role))) continue;
    if (!system.empty()) system += "\n\n";
    system += sv(request.messages[i].content);
  }
  if (!system.empty()) {
    w.Key("system");
    str(w, system);
  }
  writeMessages(w, request);
  w.Key("max_tokens");
  bool has_max = request.params && (request.params->present & OUTRIGGER_PARAM_MAX_TOKENS);
  w.Uint(has_max ? request.params->max_tokens : settings.default_max_tokens);
  if (request.stream) {
    w.Key("stream");
    w.Bool(true);
  }
  std::string_view user = request.metadata ? sv(request.metadata->user) : std::string_view();
  if (request.params) writeParams(w, *request.params, user);
  else writeUser(w, user);
  w.EndObject();
  return w.finish(body, failure);
}

std::string finishReason(std::string_view stop_reason) {
  // The answer was cut: by max_tokens, or by the context window the prompt left it.
  if (stop_reason == "max_tokens" || stop_reason == "model_context_window_exceeded") return "length";
  if (stop_reason == "tool_use") return "tool_calls";
  if (stop_reason == "refusal") return "content_filter";
  if (stop_reason.empty()) return "";
  return "stop";  // end_turn, stop_sequence, pause_turn
}

bool parseMessagesResponse(std::string_view body, Answer* answer, Failure* failure) {
  rapidjson::Document d;
  json::ParseResult parsed = parseUpstream(body, &d);
  if (!parsed || !d.IsObject()) {
    *failure = malformed(unparsedReason(parsed, "not a JSON object"));
    return false;
  }
  const Value* content = member(d, "content");
  if (!content || !content->IsArray()) {
    *failure = malformed("no content blocks");
    return false;
  }
  for (const auto& block : content->GetArray()) {
    std::string_view type = getString(block, "type");
    if (type == "text") {
      answer->content += getString(block, "text");
    } else if (type == "tool_use") {
      ToolCall t;
      t.id.assign(getString(block, "id"));
      t.type = "function";
      t.name.assign(getString(block, "name"));
      const Value* input = member(block, "input");
      t.arguments = input ? toJson(*input) : "{}";
      answer->tool_calls.push_back(std::move(t));
    }
  }
  answer->model.assign(getString(d, "model"));
  answer->id.assign(getString(d, "id"));
  std::string_view stop = getString(d, "stop_reason");
  answer->finish_reason = finishReason(stop);
  answer->refusal = stop == "refusal";
  uint32_t in = 0, creation = 0, read = 0, out = 0;
  if (const Value* u = member(d, "usage")) {
    readUsage(*u, &in, &creation, &read, &out);
    setUsage(answer, in, creation, read, out);
    answer->service_tier.assign(getString(*u, "service_tier"));
  }
  return true;
}

Failure mapHttpError(int status, std::string_view body, const ErrorHints& hints, int64_t now_unix_s) {
  Failure f = httpStatusFailure(status);  // statuses and retry hints
  applyRetryHints(&f, hints, now_unix_s);
  rapidjson::Document d;
  std::string type, text, code;
  if (parseUpstream(body, &d)) {  // an error body that does not parse leaves the status alone
    if (const Value* e = member(d, "error")) {
      type.assign(getString(*e, "type"));
      text.assign(getString(*e, "message"));
      if (const Value* details = member(*e, "details")) code.assign(getString(*details, "error_code"));
    }
  }
  if (status == 402) {
    f.code = OUTRIGGER_CODE_RESOURCE_EXHAUSTED;
    f.retryable = false;
  }
  bool spend_limit = code == "enforced_spend_limit_reached" || type == "billing_error";
  if (status == 429 && spend_limit) f.retryable = false;
  if (hints.should_retry == "true") f.retryable = true;
  if (hints.should_retry == "false") f.retryable = false;
  f.message = "upstream " + std::to_string(status);
  if (!type.empty()) f.message += " " + type;
  if (spend_limit) f.message += " (spend limit)";
  f.upstream_type = type;
  f.upstream_code = code;
  if (!text.empty() && status != 401) f.message += ": " + upstreamQuote(text);
  return f;
}

StreamDecoder::Step StreamDecoder::decode(const SseEvent& event, StreamDelta* delta, Failure* failure) {
  rapidjson::Document d;
  json::ParseResult parsed = parseUpstream(event.data, &d);
  if (!parsed || !d.IsObject()) {
    *failure = malformed("stream event is " + unparsedReason(parsed, "not JSON"));
    return Step::kError;
  }
  std::string_view type = getString(d, "type");
  if (type.empty()) type = event.event;
  uint32_t output = summary_.usage.completion_tokens;
  if (type == "message_start") {
    if (const Value* msg = member(d, "message")) {
      summary_.model.assign(getString(*msg, "model"));
      summary_.id.assign(getString(*msg, "id"));
      if (const Value* u = member(*msg, "usage")) {
        readUsage(*u, &input_tokens_, &cache_creation_, &cache_read_, &output);
        summary_.service_tier.assign(getString(*u, "service_tier"));
      }
    }
  } else if (type == "content_block_start") {
    const Value* block = member(d, "content_block");
    if (block && getString(*block, "type") == "tool_use") {
      uint32_t tool = tools_started_++;  // a new call even when a block index repeats
      tool_index_[getUint(d, "index")] = tool;
      ToolCallDelta t;
      t.index = tool;
      t.id.assign(getString(*block, "id"));
      t.type = "function";
      t.name.assign(getString(*block, "name"));
      delta->tool_calls.push_back(std::move(t));
    }
  } else if (type == "content_block_delta") {
    const Value* dl = member(d, "delta");
    std::string_view dtype = dl ? getString(*dl, "type") : std::string_view();
    if (dtype == "text_delta") {
      delta->content.assign(getString(*dl, "text"));
    } else if (dtype == "input_json_delta") {
      auto it = tool_index_.find(getUint(d, "index"));
      if (it != tool_index_.end()) {
        ToolCallDelta t;
        t.index = it->second;
        t.arguments.assign(getString(*dl, "partial_json"));
        if (!t.arguments.empty()) tools_with_input_.insert(t.index);
        delta->tool_calls.push_back(std::move(t));
      }
    }
  } else if (type == "content_block_stop") {
    // A tool called without input streams one empty partial_json: its arguments are "{}", as the
    // unary answer's `input: {}` reads and as OpenAI sends them, never "" (not JSON).
    auto it = tool_index_.find(getUint(d, "index"));
    if (it != tool_index_.end() && !tools_with_input_.count(it->second)) {
      ToolCallDelta t;
      t.index = it->second;
      t.arguments = "{}";
      tools_with_input_.insert(t.index);
      delta->tool_calls.push_back(std::move(t));
    }
  } else if (type == "message_delta") {
    if (const Value* dl = member(d, "delta")) {
      std::string_view stop = getString(*dl, "stop_reason");
      if (!stop.empty()) {
        summary_.finish_reason = finishReason(stop);
        summary_.refusal = stop == "refusal";
      }
    }
    // Usage here is cumulative: it replaces what message_start said.
    if (const Value* u = member(d, "usage")) readUsage(*u, &input_tokens_, &cache_creation_, &cache_read_, &output);
  } else if (type == "message_stop") {
    done_ = true;
    return Step::kDone;
  } else if (type == "error") {
    const Value* e = member(d, "error");
    std::string etype(e ? getString(*e, "type") : std::string_view());
    *failure = Failure{OUTRIGGER_CODE_UNAVAILABLE, etype == "overloaded_error" || etype == "api_error", 0,
                       "upstream stream error: " + etype + " " +
                           upstreamQuote(e ? getString(*e, "message") : std::string_view())};
    return Step::kError;
  }
  setUsage(&summary_, input_tokens_, cache_creation_, cache_read_, output);
  delta->head = &summary_;
  return delta->empty() ? Step::kNothing : Step::kDelta;
}

}  // namespace outrigger::providers::anthropic
