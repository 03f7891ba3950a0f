#include "cache_key.h"

#include <cstring>

#include <xxhash.h>

namespace outrigger::cache {
namespace {

void put(std::string* out, const void* p, size_t n) { out->append(static_cast<const char*>(p), n); }
void putStr(std::string* out, outrigger_str s) {
  uint64_t n = s.size;
  put(out, &n, sizeof n);
  if (n) put(out, s.data, s.size);
}
template <class T>
void putNum(std::string* out, T v) { put(out, &v, sizeof v); }

}  // namespace

std::string canonicalKey(const outrigger_request_view& req) {
  std::string k;
  k.reserve(256);
  putStr(&k, req.metadata->tenant);
  putStr(&k, req.route);
  putStr(&k, req.model);
  putNum<uint64_t>(&k, req.message_count);
  for (size_t i = 0; i < req.message_count; ++i) {
    const auto& m = req.messages[i];
    putStr(&k, m.role);
    putStr(&k, m.content);
    putStr(&k, m.name);
    putStr(&k, m.tool_call_id);
    putNum<uint64_t>(&k, m.tool_call_count);
    for (size_t j = 0; j < m.tool_call_count; ++j) {
      putStr(&k, m.tool_calls[j].id);
      putStr(&k, m.tool_calls[j].type);
      putStr(&k, m.tool_calls[j].name);
      putStr(&k, m.tool_calls[j].arguments);
    }
  }
  const outrigger_params_view& p = *req.params;
  putNum(&k, p.present);
  if (p.present & OUTRIGGER_PARAM_TEMPERATURE) putNum(&k, p.temperature);
  if (p.present & OUTRIGGER_PARAM_TOP_P) putNum(&k, p.top_p);
  if (p.present & OUTRIGGER_PARAM_MAX_TOKENS) putNum(&k, p.max_tokens);
  if (p.present & OUTRIGGER_PARAM_SEED) putNum(&k, p.seed);
  putNum<uint64_t>(&k, p.stop_count);
  for (size_t i = 0; i < p.stop_count; ++i) putStr(&k, p.stop[i]);
  putNum<uint64_t>(&k, p.tool_count);
  for (size_t i = 0; i < p.tool_count; ++i) {
    putStr(&k, p.tools[i].type);
    putStr(&k, p.tools[i].name);
    putStr(&k, p.tools[i].description);
    putStr(&k, p.tools[i].parameters_json);
  }
  putStr(&k, p.tool_choice);
  putNum(&k, p.response_format);
  if (p.response_format == OUTRIGGER_FORMAT_JSON_SCHEMA) {  // only a schema has a name and strictness
    putNum(&k, p.response_schema_strict);
    putStr(&k, p.response_schema_name);
  }
  putStr(&k, p.response_schema_json);
  putStr(&k, p.extra_json);
  return k;
}

KeyHash hashKey(const std::string& canonical) {
  XXH128_hash_t h = XXH3_128bits(canonical.data(), canonical.size());
  return {h.high64, h.low64};
}

}  // namespace outrigger::cache
