// What a front end (the socket protocol today, HTTP next) implements to receive the outcome of
// a request. The chain knows nothing else about where a request came from.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <outrigger/plugin.h>

#include "common/status.h"

namespace outrigger {

struct ToolCall {
  std::string id;
  std::string type;
  std::string name;
  std::string arguments;
};

struct ToolCallDelta {
  uint32_t index = 0;
  std::string_view id, type, name, arguments;
};

// Token counts in OpenAI's sense (outrigger_usage): prompt_tokens counts every input token;
// cached_tokens (read from the provider's prompt cache) and cache_write_tokens (written to it)
// are parts of it, reasoning_tokens a part of completion_tokens.
struct Usage {
  uint32_t prompt_tokens = 0;
  uint32_t completion_tokens = 0;
  uint32_t cached_tokens = 0;
  uint32_t reasoning_tokens = 0;
  uint32_t cache_write_tokens = 0;

  Usage& operator+=(const Usage& o) {
    prompt_tokens += o.prompt_tokens;
    completion_tokens += o.completion_tokens;
    cached_tokens += o.cached_tokens;
    reasoning_tokens += o.reasoning_tokens;
    cache_write_tokens += o.cache_write_tokens;
    return *this;
  }
};

// A response view's usage (the view is a host copy, so its tail is there), and back.
inline Usage usageOf(const outrigger_response_view& r) {
  return {r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.cached_tokens, r.usage.reasoning_tokens,
          r.cache_write_tokens};
}
inline void setUsage(outrigger_response_view* r, const Usage& u) {
  r->usage = {u.prompt_tokens, u.completion_tokens, u.cached_tokens, u.reasoning_tokens};
  r->cache_write_tokens = u.cache_write_tokens;
}

// Wire values of schemas/outrigger.fbs Verdict.
enum class VerdictKind : int8_t { kPass = 0, kFlag = 1, kDeny = 2, kRewrite = 3, kSkipped = 4, kError = 5 };

struct Verdict {
  std::string guardrail;
  VerdictKind kind = VerdictKind::kPass;
  std::string reason;
};

struct ResponseStartInfo {
  std::string_view model;
  std::string_view provider;
  bool cache_hit = false;
  std::string_view trace_id;
  // What the upstream said as its stream began (empty or 0 when it had not said).
  std::string_view system_fingerprint = {};
  std::string_view service_tier = {};
  Usage prompt_usage = {};  // the prompt's tokens (prompt, cached, cache write) as reported at the start
};

struct ResponseChunkInfo {
  uint32_t seq = 0;
  std::string_view delta;
  const ToolCallDelta* tool_calls = nullptr;
  size_t tool_call_count = 0;
  // The request producing the chunk: what Engine::resume and Engine::cancel take. Chunks can
  // come before Engine::start has returned the handle to the front.
  outrigger_request handle{};
  // The answer is the model's refusal: this text is refusal text, not content.
  bool refusal = false;
};

// The terminal outcome of a request. Views are valid for the duration of the call.
struct ResponseEndInfo {
  Code code = Code::kOk;
  bool retryable = false;
  uint32_t retry_after_ms = 0;
  std::string_view origin;
  std::string_view message;
  std::string_view content;
  std::string_view finish_reason;
  const std::vector<ToolCall>* tool_calls = nullptr;
  Usage usage;
  double cost_usd = 0;
  bool cache_hit = false;
  std::string_view trace_id;
  const std::vector<Verdict>* verdicts = nullptr;
  std::string_view model;
  // A provider was called for this request, so the upstream may have acted on it; false means
  // a retry cannot run it twice.
  bool reached_provider = false;
  // The sidecar's own resilience already did what a client's retry would: it made more than one
  // upstream attempt (retries, fallback, a hedge), or every target's breaker was open. A client
  // retrying now would multiply upstream requests (the HTTP front then says x-should-retry: false).
  bool retries_spent = false;
  // An embeddings request's vectors, one per input in input order (nullptr for chat).
  const std::vector<std::vector<float>>* embeddings = nullptr;
  // The answer is the model's refusal (`content`, or the streamed text, is refusal text), and
  // what the upstream said about how it served it.
  bool refusal = false;
  std::string_view system_fingerprint;
  std::string_view service_tier;
  // A provider's failure: the upstream's own error type and code (empty when it gave none).
  std::string_view upstream_error_type;
  std::string_view upstream_error_code;
};

// Implemented by a front end; called on the request's worker thread only.
class ResponseSink {
 public:
  virtual ~ResponseSink() = default;

  enum class Flow { kOk, kPause };

  virtual void onStart(uint64_t stream_id, const ResponseStartInfo& info) = 0;
  // kPause asks the producer to stop until the sink calls Worker::resumeRequest.
  virtual Flow onChunk(uint64_t stream_id, const ResponseChunkInfo& chunk) = 0;
  // Exactly once per request. The sink forgets the stream afterwards.
  virtual void onEnd(uint64_t stream_id, const ResponseEndInfo& end) = 0;
  // Guardrails now hold `delta` more (or, negative, fewer) bytes of the stream back. They count
  // toward the sink's backpressure like queued output (a connection stops reading new requests),
  // but never pause the producer: a guardrail may need more chunks to release what it holds, and
  // each request's held bytes have their own bound. Before onEnd every held byte is given back.
  virtual void onHeld(uint64_t stream_id, int64_t delta) { (void)stream_id, (void)delta; }
};

}  // namespace outrigger
