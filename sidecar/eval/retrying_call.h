// One request to a backend with retries of retryable errors (UNAVAILABLE, DEADLINE_EXCEEDED, or
// retryable=true): exponential backoff with full jitter, or the server's retry-after when that is
// longer. Shared by the dataset runner and the conversation simulator.
#pragma once

#include <random>

#include "eval/chat_backend.h"

namespace outrigger::eval {

struct RetryPolicy {
  uint32_t retries = 1;      // attempts after the first
  uint32_t backoff_ms = 200;  // the first retry's cap; doubled per attempt
};

struct CallOutcome {
  client::Result<client::Response> result = client::Error{};  // the last attempt's
  double latency_ms = 0;  // of the last attempt
  uint32_t attempts = 0;
};

// Blocks until an answer, a permanent error, or the last retry's error. `rng` draws the jitter
// (seeded by the caller, so a run's waits are reproducible); it is used by this thread only.
CallOutcome callWithRetries(ChatBackend* backend, const client::ChatRequest& request, const CaseParams& params,
                            const RetryPolicy& policy, std::mt19937* rng);

}  // namespace outrigger::eval
