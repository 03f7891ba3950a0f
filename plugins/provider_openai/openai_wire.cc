#include "openai_wire.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <initializer_list>
#include <string>

#include "bounded_json.h"
#include "request_body.h"
#include "tool_choice.h"

namespace outrigger::providers::openai {
namespace {

using Writer = BodyWriter;

std::string_view sv(outrigger_str s) { return s.size ? std::string_view(s.data, s.size) : std::string_view(); }

void key(Writer& w, const char* k) { w.Key(k); }
void str(Writer& w, std::string_view s) { w.String(s.data() ? s.data() : "", rapidjson::SizeType(s.size())); }

void writeMessage(Writer& w, const outrigger_message_view& m) {
  w.StartObject();
  key(w, "role");
  str(w, sv(m.role));
  key(w, "content");
  if (m.content.size == 0 && m.tool_call_count > 0) w.Null();
  else str(w, sv(m.content));
  if (m.name.size) {
    key(w, "name");
    str(w, sv(m.name));
  }
  if (m.tool_call_id.size) {
    key(w, "tool_call_id");
    str(w, sv(m.tool_call_id));
  }
  if (m.tool_call_count) {
    key(w, "tool_calls");
    w.StartArray();
    for (size_t i = 0; i < m.tool_call_count; ++i) {
      const auto& c = m.tool_calls[i];
      w.StartObject();
      key(w, "id");
      str(w, sv(c.id));
      key(w, "type");
      str(w, c.type.size ? sv(c.type) : "function");
      key(w, "function");
      w.StartObject();
      key(w, "name");
      str(w, sv(c.name));
      key(w, "arguments");
      str(w, sv(c.arguments));
      w.EndObject();
      w.EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
}

// The caller's own definition of tool `name` in extra_json's "tools", which the HTTP front keeps
// when it holds members the wire has no slot for (a function's `strict`).
const rapidjson::Value* callerTool(const rapidjson::Value* extra, std::string_view name) {
  if (!extra || !extra->IsObject()) return nullptr;
  auto tools = extra->FindMember("tools");
  if (tools == extra->MemberEnd() || !tools->value.IsArray()) return nullptr;
  for (const auto& t : tools->value.GetArray()) {
    if (!t.IsObject()) continue;
    auto f = t.FindMember("function");
    if (f == t.MemberEnd() || !f->value.IsObject()) continue;
    auto n = f->value.FindMember("name");
    if (n != f->value.MemberEnd() && n->value.IsString() &&
        std::string_view(n->value.GetString(), n->value.GetStringLength()) == name) {
      return &t;
    }
  }
  return nullptr;
}

// Writes the members of object `from` other than `written`, which the caller sent and the wire
// could not carry.
void writeOtherMembers(Writer& w, const rapidjson::Value* from, std::initializer_list<std::string_view> written) {
  if (!from || !from->IsObject()) return;
  for (const auto& m : from->GetObject()) {
    std::string_view name(m.name.GetString(), m.name.GetStringLength());
    if (std::find(written.begin(), written.end(), name) != written.end()) continue;
    str(w, name);
    m.value.Accept(w);
  }
}

const rapidjson::Value* objectMember(const rapidjson::Value* obj, const char* name) {
  if (!obj || !obj->IsObject()) return nullptr;
  auto it = obj->FindMember(name);
  return it != obj->MemberEnd() && it->value.IsObject() ? &it->value : nullptr;
}

void writeTools(Writer& w, const outrigger_params_view& p, const rapidjson::Value* extra) {
  key(w, "tools");
  w.StartArray();
  for (size_t i = 0; i < p.tool_count; ++i) {
    const auto& t = p.tools[i];
    const rapidjson::Value* caller = callerTool(extra, sv(t.name));
    w.StartObject();
    key(w, "type");
    str(w, t.type.size ? sv(t.type) : "function");
    key(w, "function");
    w.StartObject();
    key(w, "name");
    str(w, sv(t.name));
    if (t.description.size) {
      key(w, "description");
      str(w, sv(t.description));
    }
    if (t.parameters_json.size) {
      key(w, "parameters");
      w.embed(sv(t.parameters_json), "params.tools[" + std::to_string(i) + "].parameters_json");
    }
    writeOtherMembers(w, objectMember(caller, "function"), {"name", "description", "parameters"});
    w.EndObject();
    writeOtherMembers(w, caller, {"type", "function"});
    w.EndObject();
  }
  w.EndArray();
}

void writeResponseFormat(Writer& w, const outrigger_params_view& p, const rapidjson::Value* extra) {
  if (p.response_format == OUTRIGGER_FORMAT_TEXT) return;
  key(w, "response_format");
  w.StartObject();
  key(w, "type");
  if (p.response_format == OUTRIGGER_FORMAT_JSON_OBJECT) {
    str(w, "json_object");
  } else {
    str(w, "json_schema");
    key(w, "json_schema");
    w.StartObject();
    key(w, "name");
    str(w, p.response_schema_name.size ? sv(p.response_schema_name) : "response");
    key(w, "schema");
    w.embed(p.response_schema_json.size ? sv(p.response_schema_json) : "{}", "params.response_format.schema_json");
    key(w, "strict");
    w.Bool(p.response_schema_strict != 0);
    // The caller's own json_schema members the wire has no slot for (its `description`).
    const rapidjson::Value* caller = objectMember(objectMember(extra, "response_format"), "json_schema");
    writeOtherMembers(w, caller, {"name", "schema", "strict"});
    w.EndObject();
  }
  w.EndObject();
}

bool isWritten(std::string_view name, bool user_written) {
  if (user_written && name == "user") return true;
  static const char* kOwn[] = {"model", "messages", "stream", "stream_options", "temperature", "top_p", "max_tokens",
                               "max_completion_tokens", "seed", "stop", "tools", "tool_choice", "response_format"};
  for (const char* k : kOwn)
    if (name == k) return true;
  return false;
}

void writeParams(Writer& w, const outrigger_params_view& p, const WireSettings& s, bool user_written) {
  rapidjson::Document extra;
  bool has_extra = p.extra_json.size && w.parse(sv(p.extra_json), "params.extra_json", &extra) && extra.IsObject();
  if (p.present & OUTRIGGER_PARAM_TEMPERATURE) {
    key(w, "temperature");
    w.shortestFloat(p.temperature);
  }
  if (p.present & OUTRIGGER_PARAM_TOP_P) {
    key(w, "top_p");
    w.shortestFloat(p.top_p);
  }
  if (p.present & OUTRIGGER_PARAM_MAX_TOKENS) {
    key(w, s.max_tokens_field.c_str());
    w.Uint(p.max_tokens);
  }
  if (p.present & OUTRIGGER_PARAM_SEED) {
    key(w, "seed");
    w.Int64(p.seed);
  }
  if (p.stop_count) {
    key(w, "stop");
    w.StartArray();
    for (size_t i = 0; i < p.stop_count; ++i) str(w, sv(p.stop[i]));
    w.EndArray();
  }
  if (p.tool_count) writeTools(w, p, has_extra ? &extra : nullptr);
  if (p.tool_choice.size) {
    key(w, "tool_choice");
    std::string_view tc = sv(p.tool_choice);
    if (json::isToolChoiceObject(tc)) {
      w.embed(tc, "params.tool_choice");
    } else if (json::isToolChoiceMode(tc)) {
      str(w, tc);
    } else {
      // Anything else names the one function the model must call: OpenAI wants it as an object.
      w.StartObject();
      key(w, "type");
      str(w, "function");
      key(w, "function");
      w.StartObject();
      key(w, "name");
      str(w, tc);
      w.EndObject();
      w.EndObject();
    }
  }
  writeResponseFormat(w, p, has_extra ? &extra : nullptr);
  // Unknown top-level fields the caller sent go through untouched (extra_body in the SDKs).
  if (has_extra) {
    for (auto& m : extra.GetObject()) {
      std::string_view name(m.name.GetString(), m.name.GetStringLength());
      if (isWritten(name, user_written)) continue;
      str(w, name);
      m.value.Accept(w);
    }
  }
}

std::string_view getString(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject()) return {};
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || !it->value.IsString()) return {};
  return {it->value.GetString(), it->value.GetStringLength()};
}

uint32_t getUint(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject()) return 0;
  auto it = obj.FindMember(name);
  return it != obj.MemberEnd() && it->value.IsUint() ? it->value.GetUint() : 0;
}

const rapidjson::Value* member(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(name);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

bool readUsage(const rapidjson::Value& root, outrigger_usage* u) {
  const rapidjson::Value* usage = member(root, "usage");
  if (!usage || !usage->IsObject()) return false;
  u->prompt_tokens = getUint(*usage, "prompt_tokens");
  u->completion_tokens = getUint(*usage, "completion_tokens");
  if (const auto* d = member(*usage, "prompt_tokens_details")) u->cached_tokens = getUint(*d, "cached_tokens");
  if (const auto* d = member(*usage, "completion_tokens_details")) u->reasoning_tokens = getUint(*d, "reasoning_tokens");
  // OpenAI counts reasoning inside completion_tokens; Gemini's OpenAI-compatible endpoint (and
  // servers copying it) outside, which total_tokens shows (or reasoning past the completion
  // does). The host's completion_tokens include them, so each is priced once, not dropped.
  const uint64_t prompt = u->prompt_tokens, completion = u->completion_tokens, reasoning = u->reasoning_tokens;
  const auto* total = member(*usage, "total_tokens");
  const bool outside = reasoning > 0 && ((total && total->IsUint64() && total->GetUint64() == prompt + completion + reasoning) ||
                                         reasoning > completion);
  if (outside) u->completion_tokens = uint32_t(std::min<uint64_t>(completion + reasoning, UINT32_MAX));
  return true;
}

Failure malformed(std::string what) {
  Failure f;
  f.code = OUTRIGGER_CODE_UNAVAILABLE;  // an upstream fault: another attempt or target may do better
  f.retryable = true;
  f.message = "upstream answer unusable: " + what;
  return f;
}

// The upstream error object: {"error": {...}} (OpenAI) or the body itself.
const rapidjson::Value* errorObject(const rapidjson::Document& d) {
  if (!d.IsObject()) return nullptr;
  const rapidjson::Value* e = member(d, "error");
  if (e && e->IsObject()) return e;
  return nullptr;
}

}  // namespace

bool buildChatRequest(const outrigger_request_view& request, const WireSettings& settings, std::string* body,
                      Failure* failure) {
  json::JsonBuffer buf;
  Writer w(buf);
  w.StartObject();
  key(w, "model");
  str(w, settings.model.empty() ? sv(request.model) : std::string_view(settings.model));
  key(w, "messages");
  w.StartArray();
  for (size_t i = 0; i < request.message_count; ++i) writeMessage(w, request.messages[i]);
  w.EndArray();
  if (request.stream) {
    key(w, "stream");
    w.Bool(true);
    if (settings.include_usage) {
      key(w, "stream_options");
      w.StartObject();
      key(w, "include_usage");
      w.Bool(true);
      w.EndObject();
    }
  }
  // The end user the caller named (the body's user or x-outrigger-user), as embeddings send it:
  // OpenAI keys its abuse monitoring on it.
  bool user = request.metadata && request.metadata->user.size;
  if (user) {
    key(w, "user");
    str(w, sv(request.metadata->user));
  }
  if (request.params) writeParams(w, *request.params, settings, user);
  w.EndObject();
  return w.finish(body, failure);
}

bool buildEmbeddingsRequest(const outrigger_embed_request_view& request, const WireSettings& settings,
                            std::string* body, Failure* failure) {
  json::JsonBuffer buf;
  Writer w(buf);
  w.StartObject();
  key(w, "model");
  str(w, settings.model.empty() ? sv(request.model) : std::string_view(settings.model));
  // Inputs of token ids (a host of a later 1.2 build says so in `flags`) go as the arrays they are.
  bool token_ids = request.hdr.struct_size >= OUTRIGGER_SIZE_THROUGH(outrigger_embed_request_view, flags) &&
                   (request.flags & OUTRIGGER_EMBED_TOKEN_IDS);
  key(w, "input");
  w.StartArray();
  for (size_t i = 0; i < request.input_count; ++i) {
    if (token_ids) w.embed(sv(request.inputs[i]), "input");
    else str(w, sv(request.inputs[i]));
  }
  w.EndArray();
  key(w, "encoding_format");
  str(w, "base64");
  if (request.dimensions) {
    key(w, "dimensions");
    w.Uint(request.dimensions);
  }
  if (request.metadata && request.metadata->user.size) {
    key(w, "user");
    str(w, sv(request.metadata->user));
  }
  if (request.extra_json.size) {
    rapidjson::Document extra;
    if (w.parse(sv(request.extra_json), "extra_json", &extra) && extra.IsObject()) {
      for (auto& m : extra.GetObject()) {
        std::string_view name(m.name.GetString(), m.name.GetStringLength());
        if (name == "model" || name == "input" || name == "encoding_format" || name == "dimensions" || name == "user") {
          continue;
        }
        str(w, name);
        m.value.Accept(w);
      }
    }
  }
  w.EndObject();
  return w.finish(body, failure);
}

bool decodeBase64Floats(std::string_view text, std::vector<float>* out) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  std::string bytes;
  bytes.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = value(c);
    if (v < 0) return false;
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push_back(char((acc >> bits) & 0xff));
    }
  }
  if (bytes.size() % 4) return false;
  out->resize(bytes.size() / 4);
  for (size_t i = 0; i < out->size(); ++i) {
    uint32_t u = 0;
    for (int b = 0; b < 4; ++b) u |= uint32_t(static_cast<unsigned char>(bytes[i * 4 + b])) << (8 * b);
    float f;
    std::memcpy(&f, &u, 4);
    (*out)[i] = f;
  }
  return true;
}

bool parseEmbeddingsResponse(std::string_view body, size_t expected, Embeddings* out, Failure* failure) {
  rapidjson::Document d;
  json::ParseResult parsed = parseUpstream(body, &d);
  if (!parsed || !d.IsObject()) {
    *failure = malformed(unparsedReason(parsed, "not a JSON object"));
    return false;
  }
  const rapidjson::Value* data = member(d, "data");
  if (!data || !data->IsArray()) {
    *failure = malformed("no 'data' array");
    return false;
  }
  if (data->Size() != expected) {
    *failure = malformed(std::to_string(data->Size()) + " embeddings for " + std::to_string(expected) + " inputs");
    return false;
  }
  out->vectors.assign(expected, {});
  std::vector<bool> seen(expected, false);
  for (rapidjson::SizeType i = 0; i < data->Size(); ++i) {
    const rapidjson::Value& item = (*data)[i];
    const rapidjson::Value* idx = member(item, "index");
    size_t index = idx && idx->IsUint() ? idx->GetUint() : i;
    if (index >= expected || seen[index]) {
      *failure = malformed("embedding index out of range or repeated");
      return false;
    }
    seen[index] = true;
    const rapidjson::Value* e = member(item, "embedding");
    if (e && e->IsString()) {
      if (!decodeBase64Floats({e->GetString(), e->GetStringLength()}, &out->vectors[index])) {
        *failure = malformed("embedding is not base64 of float32 values");
        return false;
      }
    } else if (e && e->IsArray()) {
      for (const auto& v : e->GetArray()) {
        if (!v.IsNumber()) {
          *failure = malformed("embedding holds a non-number");
          return false;
        }
        out->vectors[index].push_back(float(v.GetDouble()));  // past a float's range: infinity
      }
    } else {
      *failure = malformed("item without an embedding");
      return false;
    }
    // The HTTP front writes vectors as JSON numbers, which have no NaN or infinity.
    for (float f : out->vectors[index]) {
      if (!std::isfinite(f)) {
        *failure = malformed("embedding holds a value that is not a finite float");
        return false;
      }
    }
  }
  out->model = std::string(getString(d, "model"));
  if (const rapidjson::Value* usage = member(d, "usage")) out->prompt_tokens = getUint(*usage, "prompt_tokens");
  return true;
}

bool parseChatResponse(std::string_view body, Answer* answer, Failure* failure) {
  rapidjson::Document d;
  json::ParseResult parsed = parseUpstream(body, &d);
  if (!parsed || !d.IsObject()) {
    *failure = malformed(unparsedReason(parsed, "not a JSON object"));
    return false;
  }
  const rapidjson::Value* choices = member(d, "choices");
  if (!choices || !choices->IsArray() || choices->Empty()) {
    *failure = malformed("no choices");
    return false;
  }
  const rapidjson::Value& choice = (*choices)[0];
  const rapidjson::Value* message = member(choice, "message");
  if (!message || !message->IsObject()) {
    *failure = malformed("choice without a message");
    return false;
  }
  answer->model.assign(getString(d, "model"));
  answer->id.assign(getString(d, "id"));
  answer->system_fingerprint.assign(getString(d, "system_fingerprint"));
  answer->service_tier.assign(getString(d, "service_tier"));
  answer->finish_reason.assign(getString(choice, "finish_reason"));
  answer->content.assign(getString(*message, "content"));
  std::string_view refusal = getString(*message, "refusal");
  if (!refusal.empty() && answer->content.empty()) {
    // The text goes as content, flagged as a refusal (and by the reason).
    answer->content.assign(refusal);
    answer->refusal = true;
    answer->finish_reason = "content_filter";
  }
  if (const auto* calls = member(*message, "tool_calls"); calls && calls->IsArray()) {
    for (const auto& c : calls->GetArray()) {
      ToolCall t;
      t.id.assign(getString(c, "id"));
      t.type.assign(getString(c, "type"));
      if (const auto* fn = member(c, "function")) {
        t.name.assign(getString(*fn, "name"));
        t.arguments.assign(getString(*fn, "arguments"));
      }
      answer->tool_calls.push_back(std::move(t));
    }
  }
  answer->has_usage = readUsage(d, &answer->usage);
  return true;
}

Failure mapHttpError(int status, std::string_view body, const ErrorHints& hints, int64_t now_unix_s) {
  Failure f = httpStatusFailure(status);
  rapidjson::Document d;
  std::string type, code, text;
  if (parseUpstream(body, &d)) {  // an error body that does not parse leaves the status alone
    if (const rapidjson::Value* e = errorObject(d)) {
      type.assign(getString(*e, "type"));
      code.assign(getString(*e, "code"));
      text.assign(getString(*e, "message"));
    }
  }
  // Quota and spend limits do not clear with a retry.
  bool quota = type == "insufficient_quota" || code == "insufficient_quota" || code == "billing_hard_limit_reached";
  if (status == 429 && quota) f.retryable = false;
  applyRetryHints(&f, hints, now_unix_s);
  f.message = "upstream " + std::to_string(status);
  if (!type.empty()) f.message += " " + type;
  if (quota) f.message += " (quota exhausted)";
  f.upstream_type = type;
  f.upstream_code = code;
  // 401 messages echo part of the key: never pass them on.
  if (!text.empty() && status != 401) f.message += ": " + upstreamQuote(text);
  return f;
}

StreamDecoder::Step StreamDecoder::decode(std::string_view data, StreamDelta* delta, Failure* failure) {
  if (data == "[DONE]") {
    done_ = true;
    return Step::kDone;
  }
  rapidjson::Document d;
  json::ParseResult parsed = parseUpstream(data, &d);
  if (!parsed || !d.IsObject()) {
    *failure = malformed("stream event is " + unparsedReason(parsed, "not JSON"));
    return Step::kError;
  }
  if (const rapidjson::Value* e = errorObject(d)) {
    // An error after the 200: the stream is broken, whatever came before.
    *failure = Failure{OUTRIGGER_CODE_UNAVAILABLE, true, 0,
                       "upstream stream error: " + upstreamQuote(getString(*e, "message"))};
    return Step::kError;
  }
  std::string_view model = getString(d, "model");
  if (!model.empty()) summary_.model.assign(model);
  if (std::string_view id = getString(d, "id"); !id.empty() && summary_.id.empty()) summary_.id.assign(id);
  if (std::string_view fp = getString(d, "system_fingerprint"); !fp.empty() && summary_.system_fingerprint.empty()) {
    summary_.system_fingerprint.assign(fp);
  }
  if (std::string_view tier = getString(d, "service_tier"); !tier.empty()) summary_.service_tier.assign(tier);
  outrigger_usage u{};
  if (readUsage(d, &u)) {
    summary_.usage = u;
    summary_.has_usage = true;
  }
  const rapidjson::Value* choices = member(d, "choices");
  if (!choices || !choices->IsArray() || choices->Empty()) return Step::kNothing;  // the usage chunk
  const rapidjson::Value& choice = (*choices)[0];
  std::string_view finish = getString(choice, "finish_reason");
  if (!finish.empty()) summary_.finish_reason.assign(finish);
  const rapidjson::Value* dl = member(choice, "delta");
  if (!dl || !dl->IsObject()) return Step::kNothing;
  delta->content.assign(getString(*dl, "content"));
  std::string_view refusal = getString(*dl, "refusal");
  if (!refusal.empty()) {
    delta->content.append(refusal);
    delta->refusal = true;
    summary_.refusal = true;
  }
  if (const auto* calls = member(*dl, "tool_calls"); calls && calls->IsArray()) {
    for (const auto& c : calls->GetArray()) {
      ToolCallDelta t;
      t.id.assign(getString(c, "id"));
      t.type.assign(getString(c, "type"));
      if (const auto* fn = member(c, "function")) {
        t.name.assign(getString(*fn, "name"));
        t.arguments.assign(getString(*fn, "arguments"));
      }
      t.index = streamedCallIndex(getUint(c, "index"), &t);
      delta->tool_calls.push_back(std::move(t));
    }
  }
  delta->head = &summary_;
  return delta->empty() ? Step::kNothing : Step::kDelta;
}

// Some OpenAI-compatible servers send every call of an answer at index 0, each with its own id,
// and some repeat a call's id, type and name in every fragment: a new id at a known index
// starts a new call, and what repeats the call's own id and name is not handed on again.
uint32_t StreamDecoder::streamedCallIndex(uint32_t upstream_index, ToolCallDelta* t) {
  auto it = tool_index_.find(upstream_index);
  bool new_call = it == tool_index_.end() || (!t->id.empty() && !it->second.id.empty() && t->id != it->second.id);
  if (new_call) {
    it = tool_index_.insert_or_assign(upstream_index, StreamedCall{next_tool_index_++, t->id, t->name}).first;
    return it->second.index;
  }
  StreamedCall& call = it->second;
  if (!t->id.empty() && t->id == call.id) {
    t->id.clear();
    t->type.clear();
  } else if (call.id.empty()) {
    call.id = t->id;
  }
  if (!t->name.empty() && t->name == call.name) t->name.clear();
  else call.name += t->name;
  return call.index;
}

}  // namespace outrigger::providers::openai
