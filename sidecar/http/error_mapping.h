// How an outcome (a canonical status code plus the chain's retry hints) is told to an OpenAI SDK:
// the HTTP status its exception classes key on, the error `type`, and the retry headers.
//
// The official SDKs retry 408, 409, 429 and every 5xx twice on their own unless the response says
// `x-should-retry: false`. Outrigger answers a non-retryable outcome (a policy denial, a bad
// request, an upstream failure its own retries and fallbacks already gave up on) with
// `x-should-retry: false`, so that one client call never multiplies into 3 x N upstream calls.
#pragma once

#include <cstdint>
#include <string_view>

#include "api/response_sink.h"
#include "common/status.h"

namespace outrigger::http {

struct HttpError {
  int status = 500;
  std::string_view reason;  // HTTP reason phrase
  std::string_view type;    // OpenAI error type: invalid_request_error, rate_limit_error ...
};

// The HTTP status and OpenAI error type for a non-OK code.
HttpError httpErrorFor(Code code);

// What the SDK should do with this failure: "true" or "false" (always one of the two, so the SDK's
// own status-based guess never applies).
std::string_view shouldRetryHeader(const ResponseEndInfo& end);

// Seconds for `retry-after` (rounded up, at least 1) from a millisecond hint.
uint32_t retryAfterSeconds(uint32_t retry_after_ms);

}  // namespace outrigger::http
