// provider.openai: any OpenAI-compatible Chat Completions server (OpenAI, Azure OpenAI, vLLM,
// Ollama, Together, Groq ...) through the host's HTTP client. The plugin builds requests and
// parses answers; the host owns connections, TLS, timeouts and backpressure, and the core
// decides about retries from what this plugin reports (code, retryable, retry_after_ms).
#include <outrigger/plugin.hpp>

#include <rapidjson/document.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bounded_json.h"
#include "http_call.h"
#include "openai_wire.h"

namespace {

using namespace outrigger::plugin;
namespace wire = outrigger::providers::openai;
using namespace outrigger::providers;  // provider_common: the shared call machinery

const std::string kSchemaText = std::string(R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["base_url"],
  "properties": {
    "base_url": {"type": "string", "pattern": "^https?://", "description": "e.g. https://api.openai.com/v1"},
    "path": {"type": "string", "description": "appended to base_url; default /chat/completions"},
    "embeddings_path": {"type": "string", "description": "appended to base_url for embeddings; default /embeddings"},
    "api_key": {"type": "string", "description": "${ENV_VAR} or file:/path (keep keys out of the file)"},
    "api_keys": {"type": "array", "items": {"type": "string"}, "description": "several key references, used in turn"},
    "api_key_header": {"type": "string", "description": "authorization (Bearer, default) or e.g. api-key (Azure)"},
    "api_version": {"type": "string", "description": "Azure: sent as ?api-version="},
    "model": {"type": "string", "description": "overrides the request's model"},
    "max_tokens_field": {"enum": ["max_tokens", "max_completion_tokens"]},
    "include_usage": {"type": "boolean", "description": "stream_options.include_usage on streams (default true)"},
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
  std::string embeddings_url;
  std::string key_header = "authorization";
  HttpSettings http;
  wire::WireSettings wire;
};

Settings parseSettings(std::string_view config) {
  rapidjson::Document d;
  if (!outrigger::json::parse(config, &d) || !d.IsObject()) throw std::runtime_error("config is not a JSON object");
  auto text = [&](const char* k, std::string def = "") { return configText(d, k, std::move(def)); };
  Settings s;
  std::string base = text("base_url");
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::string path = text("path", "/chat/completions");
  if (path.empty() || path[0] != '/') path = "/" + path;
  s.url = base + path;
  std::string embed_path = text("embeddings_path", "/embeddings");
  if (embed_path.empty() || embed_path[0] != '/') embed_path = "/" + embed_path;
  s.embeddings_url = base + embed_path;
  if (std::string v = text("api_version"); !v.empty()) {
    s.url += "?api-version=" + v;
    s.embeddings_url += "?api-version=" + v;
  }
  s.http = readHttpSettings(d);
  s.key_header = lowerAscii(text("api_key_header", "authorization"));
  s.wire.model = text("model");
  s.wire.max_tokens_field = text("max_tokens_field", "max_tokens");
  if (auto it = d.FindMember("include_usage"); it != d.MemberEnd() && it->value.IsBool()) s.wire.include_usage = it->value.GetBool();
  return s;
}

// A chat or embeddings call: the shared call state plus the chat-completion stream decoder.
struct Call final : HttpCall {
  bool embed = false;      // an embeddings call: completes through embeddings_done
  size_t embed_count = 0;  // inputs, so vectors expected
  wire::StreamDecoder decoder;
};

class OpenAiProvider final : public HttpProvider {
 public:
  static constexpr const char* kName = "openai";
  static constexpr const char* kDescription = "OpenAI-compatible Chat Completions and embeddings over the host HTTP client";
  static inline const char* const kConfigSchema = kSchemaText.c_str();
  static constexpr outrigger_stability kStability = OUTRIGGER_STABILITY_EXPERIMENTAL;
  static constexpr uint64_t kCapabilities = OUTRIGGER_CAP_STREAMING | OUTRIGGER_CAP_EMBED_TOKEN_IDS;

  OpenAiProvider(Host host, std::string_view name, std::string_view config)
      : HttpProvider(host, name), settings_(parseSettings(config)) {}

  outrigger_status start(const outrigger_request_view& request) override {
    auto call = std::make_unique<Call>();
    call->handle = request.handle;
    call->stream = request.stream != 0;
    std::string body;
    wire::Failure refused;
    if (!wire::buildChatRequest(request, settings_.wire, &body, &refused)) return refuse(call.get(), refused);
    return send(std::move(call), settings_.url, body);
  }

  // POST {base_url}/embeddings, asking for base64 vectors; the answer goes to embeddings_done.
  outrigger_status embed(const outrigger_embed_request_view& request) override {
    auto call = std::make_unique<Call>();
    call->handle = request.handle;
    call->embed = true;
    call->embed_count = request.input_count;
    std::string body;
    wire::Failure refused;
    if (!wire::buildEmbeddingsRequest(request, settings_.wire, &body, &refused)) return refuse(call.get(), refused);
    return send(std::move(call), settings_.embeddings_url, body);
  }

 protected:
  const HttpSettings& http() const override { return settings_.http; }

  void dialectHeaders(HeaderList* out) override {
    if (const std::string* key = nextKey()) {
      if (settings_.key_header == "authorization") out->emplace_back("authorization", "Bearer " + *key);
      else out->emplace_back(settings_.key_header, *key);
    }
  }

  DecodeStep decode(HttpCall* c, const SseEvent& ev, StreamDelta* delta, wire::Failure* failure) override {
    return static_cast<Call*>(c)->decoder.decode(ev.data, delta, failure);
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
    if (c->embed) return completeEmbed(c);
    if (c->stream) {
      const wire::Answer& a = c->decoder.summary();
      std::string_view reason = a.refusal && a.finish_reason == "stop" ? std::string_view("content_filter") : a.finish_reason;
      return finishStream(c, c->decoder.done(), a, reason);
    }
    wire::Answer a;
    wire::Failure f;
    if (!wire::parseChatResponse(c->body, &a, &f)) return finishFailure(c, f);
    finishAnswer(c, a);
  }

  void sendFailure(HttpCall* hc, const wire::Failure& f) override {
    if (!static_cast<Call*>(hc)->embed) return HttpProvider::sendFailure(hc, f);
    outrigger_embeddings_view r{};
    r.hdr = OUTRIGGER_HEADER_INIT(outrigger_embeddings_view);
    r.code = f.code;
    r.retryable = f.retryable;
    r.retry_after_ms = f.retry_after_ms;
    r.message = str(f.message);
    host().embeddingsDone(hc->handle, r);
  }

 private:
  void completeEmbed(Call* c) {
    wire::Embeddings e;
    wire::Failure f;
    if (!wire::parseEmbeddingsResponse(c->body, c->embed_count, &e, &f)) return finishFailure(c, f);
    std::vector<outrigger_embedding_view> views;
    for (const auto& v : e.vectors) views.push_back({v.data(), v.size()});
    outrigger_embeddings_view r{};
    r.hdr = OUTRIGGER_HEADER_INIT(outrigger_embeddings_view);
    r.code = OUTRIGGER_CODE_OK;
    r.embeddings = views.data();
    r.embedding_count = views.size();
    r.usage.prompt_tokens = e.prompt_tokens;
    r.model = str(e.model);
    stopTransfer(c);
    host().embeddingsDone(c->handle, r);
  }

  Settings settings_;
};

}  // namespace

OUTRIGGER_PLUGIN("provider_openai", "0.1.0", outrigger::plugin::typeOf<OpenAiProvider>())
