// Failure mapping shared by the HTTP providers (see wire_common.h).
#include "wire_common.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <string>

#include "common/utf8.h"

namespace outrigger::providers {

Failure httpStatusFailure(int status) {
  Failure f;
  switch (status) {
    case 400: case 413: case 422: f.code = OUTRIGGER_CODE_INVALID_ARGUMENT; break;
    case 401: f.code = OUTRIGGER_CODE_UNAUTHENTICATED; break;
    case 403: f.code = OUTRIGGER_CODE_PERMISSION_DENIED; break;
    case 404: f.code = OUTRIGGER_CODE_NOT_FOUND; break;
    case 408: case 409: f.code = OUTRIGGER_CODE_UNAVAILABLE; f.retryable = true; break;
    case 429: f.code = OUTRIGGER_CODE_RESOURCE_EXHAUSTED; f.retryable = true; break;
    default:
      if (status >= 500) {
        f.code = OUTRIGGER_CODE_UNAVAILABLE;
        f.retryable = true;
      } else {
        f.code = OUTRIGGER_CODE_FAILED_PRECONDITION;
      }
  }
  return f;
}

void applyRetryHints(Failure* f, const ErrorHints& hints, int64_t now_unix_s) {
  if (hints.should_retry == "true") f->retryable = true;
  if (hints.should_retry == "false") f->retryable = false;
  f->retry_after_ms = retryAfterMs(hints.retry_after, hints.retry_after_ms, now_unix_s);
}

uint32_t retryAfterMs(std::string_view retry_after, std::string_view retry_after_ms, int64_t now_unix_s) {
  constexpr double kCapMs = 3600.0 * 1000;
  // Decimal numbers only, as HTTP's delay-seconds are (strtod would also read "0x10" as 16).
  auto num = [](std::string_view s, double* out) {
    double v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v) || v < 0) return false;
    *out = v;
    return true;
  };
  double v = 0;
  if (!retry_after_ms.empty() && num(retry_after_ms, &v)) return uint32_t(std::min(v, kCapMs));
  if (retry_after.empty()) return 0;
  if (num(retry_after, &v)) return uint32_t(std::min(v * 1000, kCapMs));
  std::tm tm{};
  std::string t(retry_after);
  if (!strptime(t.c_str(), "%a, %d %b %Y %H:%M:%S", &tm)) return 0;
  int64_t at = timegm(&tm);
  if (at <= now_unix_s) return 0;
  return uint32_t(std::min(double(at - now_unix_s) * 1000, kCapMs));
}

Failure mapTransportError(outrigger_http_error error, std::string_view detail) {
  Failure f;
  f.code = OUTRIGGER_CODE_UNAVAILABLE;
  f.retryable = true;
  switch (error) {
    case OUTRIGGER_HTTP_E_DEADLINE:
      f.code = OUTRIGGER_CODE_DEADLINE_EXCEEDED;
      f.retryable = false;
      break;
    case OUTRIGGER_HTTP_E_TLS:
    case OUTRIGGER_HTTP_E_ABORTED:
    case OUTRIGGER_HTTP_E_INTERNAL:
      f.code = OUTRIGGER_CODE_INTERNAL;
      f.retryable = false;
      break;
    default:
      break;
  }
  f.message = "upstream transport: " + std::string(detail);
  return f;
}

json::ParseResult parseUpstream(std::string_view text, rapidjson::Document* d) {
  // The whole text checked first (simdjson's validator, common/utf8.h) costs a fraction of
  // RapidJSON's check inside the parse, which goes character by character (provider_tests
  // "[bench]" times both). JSON that is UTF-8 decodes to UTF-8: an escaped lone surrogate does
  // not parse.
  if (!validUtf8(text)) {
    d->SetNull();
    return json::ParseResult(rapidjson::ParseResult(rapidjson::kParseErrorStringInvalidEncoding, 0), false);
  }
  return json::parse(text, d);
}

std::string unparsedReason(const json::ParseResult& parsed, std::string_view otherwise) {
  if (parsed.tooDeep()) return json::tooDeepReason();
  if (parsed.code() == rapidjson::kParseErrorStringInvalidEncoding) return "not valid UTF-8";
  return std::string(otherwise);
}

std::string upstreamQuote(std::string_view text, size_t max_bytes) {
  return utf8Replaced(utf8Prefix(text, max_bytes));  // an error body in another encoding, or bytes
}

}  // namespace outrigger::providers
