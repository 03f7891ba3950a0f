#include "otlp_settings.h"

#include <rapidjson/document.h>

#include "bounded_json.h"
#include "secret_ref.h"

namespace outrigger::otlp {

const char kConfigSchema[] = R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["endpoint"],
  "properties": {
    "endpoint": {"type": "string", "minLength": 8, "description": "collector base URL; POSTs go to /v1/traces, /v1/metrics and /v1/logs under it"},
    "headers": {"type": "object", "additionalProperties": {"type": "string"}, "description": "sent with every POST (auth); a value may be file:/path"},
    "service_name": {"type": "string", "minLength": 1, "description": "resource service.name"},
    "resource_attributes": {"type": "object", "additionalProperties": {"type": "string"}, "description": "more resource attributes"},
    "batch_spans": {"type": "integer", "minimum": 1, "maximum": 65536, "description": "POST when this many spans are waiting"},
    "flush_interval_ms": {"type": "integer", "minimum": 10, "maximum": 600000, "description": "POST what is waiting at least this often"},
    "max_queue_spans": {"type": "integer", "minimum": 1, "maximum": 10000000, "description": "spans and feedback records held in memory, waiting or in flight; beyond: spooled, or dropped and counted"},
    "max_queue_bytes": {"type": "integer", "minimum": 65536, "maximum": 1099511627776, "description": "encoded bytes of the batches held in memory, waiting or in flight; beyond: spooled, or dropped and counted"},
    "max_in_flight": {"type": "integer", "minimum": 1, "maximum": 32, "description": "POSTs under way at once"},
    "timeout_ms": {"type": "integer", "minimum": 100, "maximum": 600000, "description": "one POST, connect to last byte"},
    "max_backoff_ms": {"type": "integer", "minimum": 10, "maximum": 3600000, "description": "longest pause between retries (without Retry-After)"},
    "encoding": {"enum": ["protobuf", "json"], "description": "request bodies in OTLP's protobuf (default) or JSON encoding"},
    "gzip": {"type": "boolean", "description": "Content-Encoding: gzip (default: off for a loopback endpoint, on otherwise)"},
    "spool_path": {"type": "string", "minLength": 1, "description": "directory of the on-disk spool; unset: no spool"},
    "spool_max_bytes": {"type": "integer", "minimum": 4096, "maximum": 1099511627776, "description": "spool size cap; beyond: dropped and counted"},
    "metrics": {"type": "boolean", "description": "push gen_ai.client.* metrics"},
    "metrics_interval_ms": {"type": "integer", "minimum": 100, "maximum": 3600000, "description": "metrics push interval"}
  }
})json";

namespace {

using Member = rapidjson::Value::ConstMemberIterator;

template <class T>
void readUint(const rapidjson::Document& d, const char* key, T* out) {
  auto it = d.FindMember(key);
  if (it != d.MemberEnd() && it->value.IsUint64()) *out = static_cast<T>(it->value.GetUint64());
}

void readBool(const rapidjson::Document& d, const char* key, bool* out) {
  auto it = d.FindMember(key);
  if (it != d.MemberEnd() && it->value.IsBool()) *out = it->value.GetBool();
}

std::string stringOf(const rapidjson::Value& v) { return {v.GetString(), v.GetStringLength()}; }

bool readPairs(const rapidjson::Document& d, const char* key, bool secrets,
               std::vector<std::pair<std::string, std::string>>* out, std::string* error) {
  auto it = d.FindMember(key);
  if (it == d.MemberEnd() || !it->value.IsObject()) return true;
  for (Member m = it->value.MemberBegin(); m != it->value.MemberEnd(); ++m) {
    if (!m->value.IsString()) continue;
    std::string value = stringOf(m->value);
    if (secrets) {
      std::string resolved, why;
      if (!providers::resolveSecret(value, &resolved, &why)) {
        *error = std::string(key) + "." + stringOf(m->name) + ": " + why;
        return false;
      }
      value = std::move(resolved);
    }
    out->emplace_back(stringOf(m->name), std::move(value));
  }
  return true;
}

}  // namespace

bool parseSettings(std::string_view config_json, OtlpSettings* s, std::string* error) {
  rapidjson::Document d;
  if (!json::parse(config_json, &d) || !d.IsObject()) {
    *error = "config is not a JSON object";
    return false;
  }
  auto endpoint = d.FindMember("endpoint");
  if (endpoint == d.MemberEnd() || !endpoint->value.IsString()) {
    *error = "endpoint: required";
    return false;
  }
  s->endpoint = stringOf(endpoint->value);
  while (!s->endpoint.empty() && s->endpoint.back() == '/') s->endpoint.pop_back();
  if (s->endpoint.rfind("http://", 0) != 0 && s->endpoint.rfind("https://", 0) != 0) {
    *error = "endpoint: must start with http:// or https://";
    return false;
  }
  if (!readPairs(d, "headers", true, &s->headers, error)) return false;
  if (!readPairs(d, "resource_attributes", false, &s->resource_attributes, error)) return false;
  if (auto it = d.FindMember("service_name"); it != d.MemberEnd() && it->value.IsString()) s->service_name = stringOf(it->value);
  if (auto it = d.FindMember("spool_path"); it != d.MemberEnd() && it->value.IsString()) s->spool_path = stringOf(it->value);
  readUint(d, "batch_spans", &s->batch_spans);
  readUint(d, "flush_interval_ms", &s->flush_interval_ms);
  readUint(d, "max_queue_spans", &s->max_queue_spans);
  readUint(d, "max_queue_bytes", &s->max_queue_bytes);
  readUint(d, "max_in_flight", &s->max_in_flight);
  readUint(d, "timeout_ms", &s->timeout_ms);
  readUint(d, "max_backoff_ms", &s->max_backoff_ms);
  readUint(d, "spool_max_bytes", &s->spool_max_bytes);
  readUint(d, "metrics_interval_ms", &s->metrics_interval_ms);
  if (auto it = d.FindMember("encoding"); it != d.MemberEnd() && it->value.IsString()) {
    std::string encoding = stringOf(it->value);
    if (encoding != "json" && encoding != "protobuf") {
      *error = "encoding: must be \"protobuf\" or \"json\"";
      return false;
    }
    s->encoding = encoding == "json" ? Encoding::kJson : Encoding::kProtobuf;
  }
  s->gzip = !loopbackEndpoint(s->endpoint);
  readBool(d, "gzip", &s->gzip);
  readBool(d, "metrics", &s->metrics);
  if (s->max_queue_spans < s->batch_spans) {
    *error = "max_queue_spans: must be at least batch_spans (" + std::to_string(s->batch_spans) + ")";
    return false;
  }
  return true;
}

bool loopbackEndpoint(std::string_view url) {
  size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return false;
  std::string_view host = url.substr(scheme + 3);
  host = host.substr(0, host.find_first_of("/?#"));
  if (size_t at = host.rfind('@'); at != std::string_view::npos) host.remove_prefix(at + 1);
  if (!host.empty() && host.front() == '[') {
    host = host.substr(1, host.find(']') == std::string_view::npos ? 0 : host.find(']') - 1);
    return host == "::1";
  }
  host = host.substr(0, host.find(':'));
  return host == "localhost" || host.rfind("127.", 0) == 0;
}

}  // namespace outrigger::otlp
