// provider.openai: any OpenAI-compatible Chat Completions server (OpenAI, Azure OpenAI, vLLM,
// Ollama, Together, Groq ...) through the host's HTTP client. The plugin builds requests and
// parses answers; the host owns connections, TLS, timeouts and backpressure, and the core
// decides about retries from what this plugin reports (code, retryable, retry_after_ms).
#include <outrigger/plugin.hpp>

#include <rapidjson/document.h>

#include <atomic>
#include <cctype>
#include <cstring>
#include <ctime>
#include <deque>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "openai_wire.h"
#include "secret_ref.h"
#include "sse_parser.h"

namespace {

using namespace outrigger::plugin;
namespace wire = outrigger::providers::openai;
using outrigger::providers::SseEvent;
using outrigger::providers::SseParser;

constexpr char kSchema[] = R"json({
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
    "connect_timeout_ms": {"type": "integer", "minimum": 1},
    "first_byte_timeout_ms": {"type": "integer", "minimum": 1},
    "idle_timeout_ms": {"type": "integer", "minimum": 1},
    "total_timeout_ms": {"type": "integer", "minimum": 1},
    "max_body_bytes": {"type": "integer", "minimum": 1024, "description": "largest unary or error body kept"}
  }
})json";

uint64_t keyOf(outrigger_request r) { return (uint64_t(r.slot) << 32) | r.generation; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

struct Settings {
  std::string url;
  std::string embeddings_url;
  std::vector<std::string> keys;
  std::string key_header = "authorization";
  std::vector<std::pair<std::string, std::string>> headers;
  wire::WireSettings wire;
  uint32_t connect_ms = 0, first_byte_ms = 0, idle_ms = 0, total_ms = 0;
  size_t max_body = 8 << 20;
};

Settings parseSettings(std::string_view json) {
  rapidjson::Document d;
  d.Parse(json.data(), json.size());
  if (d.HasParseError() || !d.IsObject()) throw std::runtime_error("config is not a JSON object");
  auto text = [&](const char* k, std::string def = "") {
    auto it = d.FindMember(k);
    return it != d.MemberEnd() && it->value.IsString() ? std::string(it->value.GetString()) : def;
  };
  auto num = [&](const char* k) {
    auto it = d.FindMember(k);
    return it != d.MemberEnd() && it->value.IsUint() ? it->value.GetUint() : 0u;
  };
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
  std::vector<std::string> refs;
  if (std::string k = text("api_key"); !k.empty()) refs.push_back(k);
  if (auto it = d.FindMember("api_keys"); it != d.MemberEnd() && it->value.IsArray()) {
    for (auto& v : it->value.GetArray())
      if (v.IsString()) refs.emplace_back(v.GetString());
  }
  for (const std::string& ref : refs) {
    std::string value, error;
    if (!outrigger::providers::resolveSecret(ref, &value, &error)) throw std::runtime_error("api key: " + error);
    s.keys.push_back(std::move(value));
  }
  s.key_header = lower(text("api_key_header", "authorization"));
  if (auto it = d.FindMember("headers"); it != d.MemberEnd() && it->value.IsObject()) {
    for (auto& m : it->value.GetObject()) s.headers.emplace_back(m.name.GetString(), m.value.GetString());
  }
  s.wire.model = text("model");
  s.wire.max_tokens_field = text("max_tokens_field", "max_tokens");
  if (auto it = d.FindMember("include_usage"); it != d.MemberEnd() && it->value.IsBool()) s.wire.include_usage = it->value.GetBool();
  s.connect_ms = num("connect_timeout_ms");
  s.first_byte_ms = num("first_byte_timeout_ms");
  s.idle_ms = num("idle_timeout_ms");
  s.total_ms = num("total_timeout_ms");
  if (uint32_t m = num("max_body_bytes")) s.max_body = m;
  return s;
}

class OpenAiProvider;

// One call in flight: the transfer, the parse state and what is queued behind a pause.
struct Call final : HttpHandler {
  OpenAiProvider* owner = nullptr;
  outrigger_request handle{};
  uint64_t transfer = 0;
  bool transfer_live = false;
  bool stream = false;
  bool embed = false;           // an embeddings call: completes through embeddings_done
  size_t embed_count = 0;       // inputs, so vectors expected
  int status = 0;
  std::string retry_after, retry_after_ms, should_retry;
  std::string body;             // unary answers and error bodies
  SseParser sse;
  wire::StreamDecoder decoder;
  std::deque<SseEvent> queue;   // events not yet handed on (waiting behind a pause)
  bool paused = false;          // the host answered OUTRIGGER_PAUSE
  bool transfer_ended = false;  // on_complete arrived; finishing waits for the queue
  outrigger_http_error http_error = OUTRIGGER_HTTP_OK;
  std::string http_detail;
  bool finished = false;        // provider_done sent or the request ended
  int in_callback = 0;

  outrigger_status onHead(const outrigger_http_response_head& head) override;
  outrigger_status onBody(std::string_view bytes) override;
  void onComplete(const outrigger_http_result& result) override;
};

class OpenAiProvider final : public Provider {
 public:
  static constexpr const char* kName = "openai";
  static constexpr const char* kDescription = "OpenAI-compatible Chat Completions and embeddings over the host HTTP client";
  static constexpr const char* kConfigSchema = kSchema;
  static constexpr outrigger_stability kStability = OUTRIGGER_STABILITY_EXPERIMENTAL;
  static constexpr uint64_t kCapabilities = OUTRIGGER_CAP_STREAMING;

  OpenAiProvider(Host host, std::string_view name, std::string_view config)
      : Provider(host, name), settings_(parseSettings(config)) {
    if (!host.hasHttp()) throw std::runtime_error("the host offers no HTTP client (plugin ABI 1.1 needed)");
  }

  ~OpenAiProvider() override {
    for (auto& [k, c] : calls_)
      if (c->transfer_live) host().httpCancel(c->handle, c->transfer);
  }

  outrigger_status start(const outrigger_request_view& request) override {
    auto call = std::make_unique<Call>();
    call->owner = this;
    call->handle = request.handle;
    call->stream = request.stream != 0;
    return send(std::move(call), settings_.url, wire::buildChatRequest(request, settings_.wire));
  }

  // POST {base_url}/embeddings, asking for base64 vectors; the answer goes to embeddings_done.
  outrigger_status embed(const outrigger_embed_request_view& request) override {
    auto call = std::make_unique<Call>();
    call->owner = this;
    call->handle = request.handle;
    call->embed = true;
    call->embed_count = request.input_count;
    return send(std::move(call), settings_.embeddings_url, wire::buildEmbeddingsRequest(request, settings_.wire));
  }

  // Starts the transfer of a call; always PENDING (a failure to start is reported as the answer).
  outrigger_status send(std::unique_ptr<Call> call, const std::string& url, const std::string& body) {
    Call* c = call.get();

    std::vector<std::string> owned;  // header values that must live through the call
    std::vector<outrigger_http_header> headers;
    owned.reserve(settings_.headers.size() + 2);
    auto add = [&](std::string_view n, std::string v) {
      owned.push_back(std::move(v));
      headers.push_back({str(n), str(owned.back())});
    };
    add("content-type", "application/json");
    add("accept", c->stream ? "text/event-stream" : "application/json");
    if (!settings_.keys.empty()) {
      const std::string& key = settings_.keys[next_key_++ % settings_.keys.size()];
      if (settings_.key_header == "authorization") add("authorization", "Bearer " + key);
      else add(settings_.key_header, key);
    }
    for (auto& [n, v] : settings_.headers) add(n, v);

    outrigger_http_request http;
    std::memset(&http, 0, sizeof http);
    http.hdr = OUTRIGGER_HEADER_INIT(outrigger_http_request);
    http.method = str("POST");
    http.url = str(url);
    http.headers = headers.data();
    http.header_count = headers.size();
    http.body = str(body);
    http.connect_timeout_ms = settings_.connect_ms;
    http.first_byte_timeout_ms = settings_.first_byte_ms;
    http.idle_timeout_ms = settings_.idle_ms;
    http.total_timeout_ms = settings_.total_ms;
    outrigger_status st = host().httpRequest(c->handle, http, c, &c->transfer);
    if (st != OUTRIGGER_OK) {
      wire::Failure f{OUTRIGGER_CODE_INTERNAL, false, 0, "cannot start the upstream request"};
      sendFailure(c, f);
      return OUTRIGGER_PENDING;
    }
    c->transfer_live = true;
    calls_.emplace(keyOf(c->handle), std::move(call));
    return OUTRIGGER_PENDING;
  }

  void cancel(outrigger_request request) override {
    auto it = calls_.find(keyOf(request));
    if (it == calls_.end()) return;
    Call* c = it->second.get();
    c->finished = true;
    if (c->transfer_live) {
      c->transfer_live = false;
      host().httpCancel(c->handle, c->transfer);
    }
    if (c->in_callback == 0) calls_.erase(it);  // else the callback frees it on the way out
  }

  void resume(outrigger_request request) override {
    auto it = calls_.find(keyOf(request));
    if (it == calls_.end()) return;
    Call* c = it->second.get();
    c->paused = false;
    ++c->in_callback;
    pump(c);
    --c->in_callback;
    if (!c->finished && !c->paused && c->transfer_live) host().httpResume(c->handle, c->transfer);
    reap(c);
  }

  // Hands queued events on until a pause, an error or the queue runs dry; finishes the call
  // once the transfer has ended and nothing is left.
  void pump(Call* c) {
    while (!c->paused && !c->finished && !c->queue.empty()) {
      SseEvent ev = std::move(c->queue.front());
      c->queue.pop_front();
      wire::StreamDelta delta;
      wire::Failure failure;
      switch (c->decoder.decode(ev.data, &delta, &failure)) {
        case wire::StreamDecoder::Step::kError:
          return finishFailure(c, failure);
        case wire::StreamDecoder::Step::kDelta:
          emit(c, delta);
          break;
        case wire::StreamDecoder::Step::kDone:
        case wire::StreamDecoder::Step::kNothing:
          break;
      }
    }
    if (!c->paused && !c->finished && c->queue.empty() && c->transfer_ended) complete(c);
  }

  void emit(Call* c, const wire::StreamDelta& d) {
    std::vector<outrigger_tool_call_delta_view> calls;
    for (const auto& t : d.tool_calls) calls.push_back({t.index, str(t.id), str(t.type), str(t.name), str(t.arguments)});
    outrigger_chunk_view chunk = makeChunk(d.content);
    chunk.tool_calls = calls.data();
    chunk.tool_call_count = calls.size();
    outrigger_status st = host().providerChunk(c->handle, chunk);
    if (st == OUTRIGGER_PAUSE) c->paused = true;
    else if (st < 0) c->finished = true;  // the request ended meanwhile (deny, cancel, deadline)
  }

  // The transfer ended and every event was handed on: report the outcome.
  void complete(Call* c) {
    if (c->http_error == OUTRIGGER_HTTP_E_CANCELLED) {
      c->finished = true;
      return;
    }
    if (c->http_error != OUTRIGGER_HTTP_OK) return finishFailure(c, wire::mapTransportError(c->http_error, c->http_detail));
    if (c->status < 200 || c->status >= 300) {
      wire::ErrorHints hints{c->retry_after, c->retry_after_ms, c->should_retry};
      return finishFailure(c, wire::mapHttpError(c->status, c->body, hints, int64_t(std::time(nullptr))));
    }
    if (c->embed) return completeEmbed(c);
    if (c->stream) {
      if (!c->decoder.done()) {
        return finishFailure(c, {OUTRIGGER_CODE_UNAVAILABLE, true, 0, "upstream stream ended without its terminal event"});
      }
      const wire::Answer& a = c->decoder.summary();
      outrigger_response_view r = makeResponse();
      r.finish_reason = str(a.refusal && a.finish_reason == "stop" ? std::string_view("content_filter") : a.finish_reason);
      r.usage = a.usage;
      r.model = str(a.model);
      return finishOk(c, r);
    }
    wire::Answer a;
    wire::Failure f;
    if (!wire::parseChatResponse(c->body, &a, &f)) return finishFailure(c, f);
    std::vector<outrigger_tool_call_view> calls;
    for (const auto& t : a.tool_calls) calls.push_back({str(t.id), str(t.type), str(t.name), str(t.arguments)});
    outrigger_response_view r = makeResponse();
    r.content = str(a.content);
    r.finish_reason = str(a.finish_reason);
    r.tool_calls = calls.data();
    r.tool_call_count = calls.size();
    r.usage = a.usage;
    r.model = str(a.model);
    finishOk(c, r);
  }

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

  void finishOk(Call* c, const outrigger_response_view& r) {
    stopTransfer(c);
    host().providerDone(c->handle, r);
  }

  void finishFailure(Call* c, const wire::Failure& f) {
    stopTransfer(c);
    std::string message = f.message;
    for (const std::string& k : settings_.keys) message = outrigger::providers::redact(std::move(message), k);
    sendFailure(c, {f.code, f.retryable, f.retry_after_ms, message});
  }

  void sendFailure(Call* c, const wire::Failure& f) {
    if (!c->embed) {
      host().providerDone(c->handle, makeError(f.code, f.message, f.retryable, f.retry_after_ms));
      return;
    }
    outrigger_embeddings_view r{};
    r.hdr = OUTRIGGER_HEADER_INIT(outrigger_embeddings_view);
    r.code = f.code;
    r.retryable = f.retryable;
    r.retry_after_ms = f.retry_after_ms;
    r.message = str(f.message);
    host().embeddingsDone(c->handle, r);
  }

  // The transfer goes before provider_done, so ending the request never calls back into a
  // call that is being finished.
  void stopTransfer(Call* c) {
    c->finished = true;
    if (c->transfer_live) {
      c->transfer_live = false;
      host().httpCancel(c->handle, c->transfer);
    }
  }

  // Frees a finished call once no callback of it is on the stack.
  void reap(Call* c) {
    if (c->finished && c->in_callback == 0) calls_.erase(keyOf(c->handle));
  }

  size_t maxBody() const { return settings_.max_body; }

 private:
  Settings settings_;
  std::unordered_map<uint64_t, std::unique_ptr<Call>> calls_;
  uint64_t next_key_ = 0;
};

outrigger_status Call::onHead(const outrigger_http_response_head& head) {
  status = head.status;
  for (size_t i = 0; i < head.header_count; ++i) {
    std::string name = lower(view(head.headers[i].name));
    if (name == "retry-after") retry_after.assign(view(head.headers[i].value));
    else if (name == "retry-after-ms") retry_after_ms.assign(view(head.headers[i].value));
    else if (name == "x-should-retry") should_retry = lower(view(head.headers[i].value));
  }
  return OUTRIGGER_OK;
}

outrigger_status Call::onBody(std::string_view bytes) {
  if (finished) return OUTRIGGER_E_STALE;
  bool sse_body = stream && status >= 200 && status < 300;
  if (!sse_body) {
    if (body.size() + bytes.size() > owner->maxBody()) return OUTRIGGER_E_INVALID;  // aborts the transfer
    body.append(bytes);
    return OUTRIGGER_OK;
  }
  std::vector<SseEvent> events;
  if (!sse.feed(bytes, events)) return OUTRIGGER_E_INVALID;
  for (auto& e : events) queue.push_back(std::move(e));
  OpenAiProvider* p = owner;
  ++in_callback;
  p->pump(this);
  --in_callback;
  if (finished) {
    p->reap(this);  // may free this call: touch nothing after
    return OUTRIGGER_E_STALE;
  }
  return paused ? OUTRIGGER_PAUSE : OUTRIGGER_OK;
}

void Call::onComplete(const outrigger_http_result& result) {
  transfer_live = false;
  transfer_ended = true;
  http_error = result.error;
  http_detail.assign(view(result.message));
  if (result.status) status = result.status;
  OpenAiProvider* p = owner;
  if (!finished) {
    ++in_callback;
    p->pump(this);  // finishes now unless events wait behind a pause
    --in_callback;
  }
  p->reap(this);
}

}  // namespace

OUTRIGGER_PLUGIN("provider_openai", "0.1.0", outrigger::plugin::typeOf<OpenAiProvider>())
