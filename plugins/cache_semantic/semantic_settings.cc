#include "semantic_settings.h"

#include <rapidjson/document.h>

#include <stdexcept>

#include "bounded_json.h"

namespace outrigger::semantic {

const char kSemanticSchema[] = R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["embed_route"],
  "properties": {
    "embed_route": {"type": "string", "minLength": 1, "description": "the route embed calls run on; list it in the serving route's `calls`"},
    "key": {"enum": ["last_user", "conversation"], "description": "what is embedded: the last user message, or every message with the system prompt"},
    "dimensions": {"type": "integer", "minimum": 1, "maximum": 8192, "description": "the embedding route's vector length (default 256, WordLlama's)"},
    "threshold": {"type": "number", "minimum": 0, "maximum": 1, "description": "cosine similarity a hit needs (default 0.95)"},
    "route_thresholds": {"type": "object", "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1}, "description": "threshold per serving route"},
    "ttl_ms": {"type": "integer", "minimum": 1, "maximum": 31536000000, "description": "default time to live (the request's cache ttl wins)"},
    "max_entries": {"type": "integer", "minimum": 1, "maximum": 4294967295, "description": "entries over all partitions; least recently used go first"},
    "max_bytes": {"type": "integer", "minimum": 65536, "maximum": 1099511627776, "description": "memory bound: answers, queries, vectors and index slots"},
    "max_entry_bytes": {"type": "integer", "minimum": 1, "maximum": 1099511627776, "description": "larger answers are not cached"},
    "guard": {"type": "boolean", "description": "refuse a candidate whose query differs in negation words or numbers (default true)"},
    "store_tool_answers": {"type": "boolean", "description": "also cache answers that call tools (default false)"},
    "store_incomplete": {"type": "boolean", "description": "also cache answers cut short (finish_reason other than stop; default false)"},
    "embed_timeout_ms": {"type": "integer", "minimum": 1, "maximum": 86400000, "description": "a slower embedding is a miss (default 1000)"},
    "hnsw_m": {"type": "integer", "minimum": 4, "maximum": 64, "description": "HNSW links per node (default 16)"},
    "ef_construction": {"type": "integer", "minimum": 8, "maximum": 1024, "description": "HNSW build breadth (default 200)"},
    "ef_search": {"type": "integer", "minimum": 1, "maximum": 1024, "description": "HNSW search breadth (default 16)"}
  }
})json";

namespace {

uint64_t uintOr(const rapidjson::Value& d, const char* key, uint64_t fallback) {
  return d.HasMember(key) ? d[key].GetUint64() : fallback;
}
bool boolOr(const rapidjson::Value& d, const char* key, bool fallback) {
  return d.HasMember(key) ? d[key].GetBool() : fallback;
}

}  // namespace

SemanticSettings parseSemanticSettings(std::string_view config_json) {
  rapidjson::Document d;
  if (!json::parse(config_json, &d) || !d.IsObject()) throw std::runtime_error("config is not a JSON object");
  SemanticSettings s;
  s.embed_route = d["embed_route"].GetString();
  if (d.HasMember("key")) s.key_text = std::string_view(d["key"].GetString()) == "conversation" ? KeyText::kConversation : KeyText::kLastUser;
  if (d.HasMember("threshold")) s.threshold = d["threshold"].GetDouble();
  if (d.HasMember("route_thresholds")) {
    for (auto it = d["route_thresholds"].MemberBegin(); it != d["route_thresholds"].MemberEnd(); ++it)
      s.route_thresholds[it->name.GetString()] = it->value.GetDouble();
  }
  s.ttl_ms = uintOr(d, "ttl_ms", s.ttl_ms);
  s.embed_timeout_ms = uint32_t(uintOr(d, "embed_timeout_ms", s.embed_timeout_ms));
  s.guard = boolOr(d, "guard", s.guard);
  s.store_tool_answers = boolOr(d, "store_tool_answers", s.store_tool_answers);
  s.store_incomplete = boolOr(d, "store_incomplete", s.store_incomplete);
  s.limits.dims = uintOr(d, "dimensions", 256);
  s.limits.max_entries = uintOr(d, "max_entries", s.limits.max_entries);
  s.limits.max_bytes = uintOr(d, "max_bytes", s.limits.max_bytes);
  s.limits.max_entry_bytes = uintOr(d, "max_entry_bytes", s.limits.max_entry_bytes);
  s.limits.hnsw_m = uintOr(d, "hnsw_m", s.limits.hnsw_m);
  s.limits.ef_construction = uintOr(d, "ef_construction", s.limits.ef_construction);
  s.limits.ef_search = uintOr(d, "ef_search", s.limits.ef_search);
  return s;
}

}  // namespace outrigger::semantic
