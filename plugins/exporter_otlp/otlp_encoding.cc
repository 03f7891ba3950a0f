#include "otlp_encoding.h"

#include <charconv>
#include <cmath>

#include "otlp_json.h"
#include "otlp_proto.h"

namespace outrigger::otlp {
namespace {

constexpr std::pair<std::string_view, AttrType> kTypedKeys[] = {
    {"gen_ai.usage.input_tokens", AttrType::kInt},
    {"gen_ai.usage.output_tokens", AttrType::kInt},
    {"gen_ai.usage.cache_read.input_tokens", AttrType::kInt},
    {"gen_ai.usage.cache_creation.input_tokens", AttrType::kInt},
    {"gen_ai.usage.reasoning.output_tokens", AttrType::kInt},
    {"gen_ai.request.max_tokens", AttrType::kInt},
    {"gen_ai.request.seed", AttrType::kInt},
    {"gen_ai.request.temperature", AttrType::kDouble},
    {"gen_ai.request.top_p", AttrType::kDouble},
    {"gen_ai.request.top_k", AttrType::kDouble},
    {"gen_ai.request.frequency_penalty", AttrType::kDouble},
    {"gen_ai.request.presence_penalty", AttrType::kDouble},
    {"gen_ai.request.choice.count", AttrType::kInt},
    {"gen_ai.response.time_to_first_chunk", AttrType::kDouble},
    {"gen_ai.request.stream", AttrType::kBool},
    {"outrigger.cost_usd", AttrType::kDouble},
    {"outrigger.cache.hit", AttrType::kBool},
};

}  // namespace

bool parseIntText(std::string_view s, int64_t* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

bool parseDoubleText(std::string_view s, double* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty() && std::isfinite(*out);
}

AttrType attributeType(std::string_view k) {
  for (const auto& [name, type] : kTypedKeys) {
    if (name == k) return type;
  }
  return AttrType::kString;
}

bool isHexId(std::string_view id, size_t n) {
  if (id.size() != n) return false;
  bool nonzero = false;
  for (char c : id) {
    bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex) return false;
    nonzero |= c != '0';
  }
  return nonzero;
}

std::string encodedResource(Encoding encoding, std::string_view service_name, const StringAttributes& attributes) {
  return encoding == Encoding::kProtobuf ? pb::resourceMessage(service_name, attributes)
                                         : resourceJson(service_name, attributes);
}

}  // namespace outrigger::otlp
