#include "eval/retrying_call.h"

#include <algorithm>
#include <chrono>
#include <thread>

namespace outrigger::eval {

namespace {

// A retry-after longer than this is not waited for in full: an eval run should not stall.
constexpr uint32_t kMaxRetryAfterMs = 30000;

bool worthRetrying(const client::Error& e) {
  return e.retryable || e.code == client::StatusCode::kUnavailable || e.code == client::StatusCode::kDeadlineExceeded;
}

}  // namespace

CallOutcome callWithRetries(ChatBackend* backend, const client::ChatRequest& request, const CaseParams& params,
                            const RetryPolicy& policy, std::mt19937* rng) {
  CallOutcome out;
  uint32_t retry_after_ms = 0;  // what the last error asked for
  for (uint32_t attempt = 0; attempt <= policy.retries; ++attempt) {
    if (attempt > 0) {
      uint32_t cap = policy.backoff_ms << std::min(attempt - 1, 10u);
      uint32_t wait = std::max(std::uniform_int_distribution<uint32_t>(0, cap)(*rng), std::min(retry_after_ms, kMaxRetryAfterMs));
      std::this_thread::sleep_for(std::chrono::milliseconds(wait));
    }
    auto start = std::chrono::steady_clock::now();
    out.result = backend->chat(request, params);
    out.latency_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    out.attempts = attempt + 1;
    if (out.result.ok() || !worthRetrying(out.result.error())) break;
    retry_after_ms = out.result.error().retry_after_ms;
  }
  return out;
}

}  // namespace outrigger::eval
