// provider.anthropic: the Anthropic Messages API through the host's HTTP client. The call
// machinery is provider_common's HttpProvider; the translation lives in anthropic_wire.cc. The core
// decides about retries from what this plugin reports (code, retryable, retry_after_ms).
#include <outrigger/plugin.hpp>

#include <rapidjson/document.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "anthropic_wire.h"
#include "bounded_json.h"
#include "http_call.h"

namespace {

using namespace outrigger::plugin;
namespace wire = outrigger::providers::anthropic;
using namespace outrigger::providers;  // provider_common: the shared call machinery

const std::string kSchemaText = std::string(R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "base_url": {"type": "string", "pattern": "^https?://", "description": "default https://api.anthropic.com"},
    "path": {"type": "string", "description": "appended to base_url; default /v1/messages"},
    "api_key": {"type": "string", "description": "${ENV_VAR} or file:/path (keep keys out of the file)"},
    "api_keys": {"type": "array", "items": {"type": "string"}, "description": "several key references, used in turn"},
    "anthropic_version": {"type": "string", "description": "anthropic-version header; default 2023-06-01"},
    "anthropic_beta": {"type": "string", "description": "anthropic-beta header, comma-separated features"},
    "model": {"type": "string", "description": "overrides the request's model"},
    "default_max_tokens": {"type": "integer", "minimum": 1, "maximum": 4294967295, "description": "max_tokens when the caller set none (default 4096)"},
    "headers": {"type": "object", "additionalProperties": {"type": "string"}, "description": "extra request headers"},
    "connect_timeout_ms": {"type": "integer", "minimum": 1, "maximum": 86400000},
    "first_byte_timeout_ms": {"type": "integer", "minimum": 1, "maximum": 86400000},
    "idle_timeout_ms": {"type": "integer", "minimum": 1, "maximum": 86400000},
    "total_timeout_ms": {"type": "integer", "minimum": 1, "maximum": 86400000},
    "max_body_bytes": {"type": "integer", "minimum": 1024, "maximum": 4294967295, "description": "largest unary or error body kept"},
    "cassette": )json") + kCassetteSchema + R"json(
  }
})json";

struct Settings {
  std::string url;
  std::string version = "2023-06-01";
  std::string beta;
  HttpSettings http;
  wire::WireSettings wire;
};

Settings parseSettings(std::string_view config) {
  rapidjson::Document d;
  if (!outrigger::json::parse(config, &d) || !d.IsObject()) throw std::runtime_error("config is not a JSON object");
  auto text = [&](const char* k, std::string def = "") { return configText(d, k, std::move(def)); };
  Settings s;
  std::string base = text("base_url", "https://api.anthropic.com");
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::string path = text("path", "/v1/messages");
  if (path.empty() || path[0] != '/') path = "/" + path;
  s.url = base + path;
  s.http = readHttpSettings(d);
  s.version = text("anthropic_version", "2023-06-01");
  s.beta = text("anthropic_beta");
  s.wire.model = text("model");
  if (uint32_t m = configUint(d, "default_max_tokens")) s.wire.default_max_tokens = m;
  return s;
}

// A Messages call: the shared call state plus the Messages event-stream decoder.
struct Call final : HttpCall {
  wire::StreamDecoder decoder;
};

class AnthropicProvider final : public HttpProvider {
 public:
  static constexpr const char* kName = "anthropic";
  static constexpr const char* kDescription = "Anthropic Messages API over the host HTTP client";
  static inline const char* const kConfigSchema = kSchemaText.c_str();
  static constexpr outrigger_stability kStability = OUTRIGGER_STABILITY_EXPERIMENTAL;
  static constexpr uint64_t kCapabilities = OUTRIGGER_CAP_STREAMING;

  AnthropicProvider(Host host, std::string_view name, std::string_view config)
      : HttpProvider(host, name), settings_(parseSettings(config)) {}

  outrigger_status start(const outrigger_request_view& request) override {
    auto call = std::make_unique<Call>();
    call->handle = request.handle;
    call->stream = request.stream != 0;
    std::string body;
    wire::Failure refused;
    if (!wire::buildMessagesRequest(request, settings_.wire, &body, &refused)) return refuse(call.get(), refused);
    return send(std::move(call), settings_.url, body);
  }

 protected:
  const HttpSettings& http() const override { return settings_.http; }

  void dialectHeaders(HeaderList* out) override {
    if (const std::string* key = nextKey()) out->emplace_back("x-api-key", *key);
    out->emplace_back("anthropic-version", settings_.version);
    if (!settings_.beta.empty()) out->emplace_back("anthropic-beta", settings_.beta);
  }

  DecodeStep decode(HttpCall* c, const SseEvent& ev, StreamDelta* delta, wire::Failure* failure) override {
    return static_cast<Call*>(c)->decoder.decode(ev, delta, failure);
  }

  wire::Failure mapHttpError(int status, std::string_view body, const ErrorHints& hints, int64_t now) override {
    return wire::mapHttpError(status, body, hints, now);
  }

  const wire::Answer* streamed(HttpCall* hc) override {
    Call* c = static_cast<Call*>(hc);
    return c->stream ? &c->decoder.summary() : nullptr;
  }

  void completeOk(HttpCall* hc) override {
    Call* c = static_cast<Call*>(hc);
    if (c->stream) {
      const wire::Answer& a = c->decoder.summary();
      return finishStream(c, c->decoder.done(), a, a.finish_reason);
    }
    wire::Answer a;
    wire::Failure f;
    if (!wire::parseMessagesResponse(c->body, &a, &f)) return finishFailure(c, f);
    finishAnswer(c, a);
  }

 private:
  Settings settings_;
};

}  // namespace

OUTRIGGER_PLUGIN("provider_anthropic", "0.1.0", outrigger::plugin::typeOf<AnthropicProvider>())
