#include "cache_scope.h"

#include <xxhash.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace outrigger::semantic {
namespace {

std::string_view sv(outrigger_str s) { return {s.data ? s.data : "", s.size}; }

void putStr(std::string* out, std::string_view s) {
  uint64_t n = s.size();
  out->append(reinterpret_cast<const char*>(&n), sizeof n);
  out->append(s);
}

// The index of the last user message, or message_count when there is none.
size_t lastUser(const outrigger_request_view& req) {
  for (size_t i = req.message_count; i-- > 0;) {
    if (sv(req.messages[i].role) == "user") return i;
  }
  return req.message_count;
}

bool isSystem(std::string_view role) { return role == "system" || role == "developer"; }

void putMessage(std::string* out, const outrigger_message_view& m) {
  putStr(out, sv(m.role));
  putStr(out, sv(m.content));
  putStr(out, sv(m.name));
  putStr(out, sv(m.tool_call_id));
  for (size_t j = 0; m.tool_calls && j < m.tool_call_count; ++j) {
    putStr(out, sv(m.tool_calls[j].name));
    putStr(out, sv(m.tool_calls[j].arguments));
  }
}

}  // namespace

std::string partitionKey(const outrigger_request_view& req, KeyText mode) {
  // What is hashed: system prompts, what the embedded text leaves out of the conversation, and
  // what shapes or limits the answer (tools, tool choice, response format, max_tokens, stop
  // sequences, the provider-specific fields). Sampling (temperature, top_p, seed) is not.
  std::string shape;
  for (size_t i = 0; i < req.message_count; ++i) {
    if (isSystem(sv(req.messages[i].role))) putMessage(&shape, req.messages[i]);
  }
  if (mode == KeyText::kLastUser) {
    const size_t question = lastUser(req);
    putStr(&shape, "turns");
    putStr(&shape, std::to_string(question));  // where the question sits among the other turns
    for (size_t i = 0; i < req.message_count; ++i) {
      if (i != question && !isSystem(sv(req.messages[i].role))) putMessage(&shape, req.messages[i]);
    }
  } else {
    // The embedded text has each turn's role and content; not the calls an assistant made.
    putStr(&shape, "conversation");
    for (size_t i = 0; i < req.message_count; ++i) {
      const outrigger_message_view& m = req.messages[i];
      if (isSystem(sv(m.role))) continue;
      putStr(&shape, sv(m.name));
      putStr(&shape, sv(m.tool_call_id));
      for (size_t j = 0; m.tool_calls && j < m.tool_call_count; ++j) {
        putStr(&shape, sv(m.tool_calls[j].name));
        putStr(&shape, sv(m.tool_calls[j].arguments));
      }
    }
  }
  if (const outrigger_params_view* p = req.params) {
    putStr(&shape, (p->present & OUTRIGGER_PARAM_MAX_TOKENS) ? std::to_string(p->max_tokens) : "");
    putStr(&shape, std::to_string(p->stop_count));
    for (size_t i = 0; p->stop && i < p->stop_count; ++i) putStr(&shape, sv(p->stop[i]));
    putStr(&shape, sv(p->extra_json));
    for (size_t i = 0; p->tools && i < p->tool_count; ++i) {
      putStr(&shape, sv(p->tools[i].type));
      putStr(&shape, sv(p->tools[i].name));
      putStr(&shape, sv(p->tools[i].description));
      putStr(&shape, sv(p->tools[i].parameters_json));
    }
    putStr(&shape, sv(p->tool_choice));
    putStr(&shape, std::to_string(p->response_format));
    putStr(&shape, sv(p->response_schema_name));
    putStr(&shape, sv(p->response_schema_json));
    putStr(&shape, p->response_schema_strict ? "strict" : "");
  }
  XXH128_hash_t h = XXH3_128bits(shape.data(), shape.size());
  std::string key;
  putStr(&key, req.metadata ? sv(req.metadata->tenant) : "");
  putStr(&key, sv(req.route));
  putStr(&key, sv(req.model));
  key.append(reinterpret_cast<const char*>(&h.high64), 8);
  key.append(reinterpret_cast<const char*>(&h.low64), 8);
  return key;
}

std::string keyText(const outrigger_request_view& req, KeyText mode) {
  if (mode == KeyText::kLastUser) {
    size_t question = lastUser(req);
    return question < req.message_count ? std::string(sv(req.messages[question].content)) : std::string();
  }
  std::string text;
  bool has_user = false;
  for (size_t i = 0; i < req.message_count; ++i) {
    has_user = has_user || sv(req.messages[i].role) == "user";
    text.append(sv(req.messages[i].role)).append(": ").append(sv(req.messages[i].content)).append("\n");
  }
  return has_user ? text : std::string();
}

}  // namespace outrigger::semantic
