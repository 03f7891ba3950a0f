#include "http/error_mapping.h"

namespace outrigger::http {

HttpError httpErrorFor(Code code) {
  switch (code) {
    case Code::kOk:
      return {200, "OK", ""};
    case Code::kInvalidArgument:
    case Code::kOutOfRange:
    case Code::kFailedPrecondition:
      return {400, "Bad Request", "invalid_request_error"};
    case Code::kUnauthenticated:
      return {401, "Unauthorized", "authentication_error"};
    case Code::kPermissionDenied:
      return {403, "Forbidden", "permission_error"};
    case Code::kNotFound:
      return {404, "Not Found", "not_found_error"};
    case Code::kAlreadyExists:
    case Code::kAborted:
      return {409, "Conflict", "conflict_error"};
    case Code::kResourceExhausted:
      return {429, "Too Many Requests", "rate_limit_error"};
    case Code::kCancelled:
      // nginx's "client closed request": the client is usually gone and never reads it.
      return {499, "Client Closed Request", "cancelled"};
    case Code::kUnimplemented:
      return {501, "Not Implemented", "not_implemented_error"};
    case Code::kUnavailable:
      return {503, "Service Unavailable", "service_unavailable_error"};
    case Code::kDeadlineExceeded:
      return {504, "Gateway Timeout", "timeout_error"};
    case Code::kUnknown:
    case Code::kInternal:
    case Code::kDataLoss:
      break;
  }
  return {500, "Internal Server Error", "server_error"};
}

std::string_view shouldRetryHeader(const ResponseEndInfo& end) {
  // A retryable verdict is worth one more try by the SDK, unless the sidecar already retried or
  // found every breaker open: the SDK's retries would then multiply upstream requests (its
  // default of 2 retries times the route's attempts) or sleep out a breaker's open time just to
  // fail again. Rate limiting with a real retry time stays worth a retry after that time.
  if (end.code == Code::kOk || !end.retryable) return "false";
  if (end.code == Code::kResourceExhausted && end.retry_after_ms) return "true";
  return end.retries_spent ? "false" : "true";
}

uint32_t retryAfterSeconds(uint32_t retry_after_ms) {
  uint32_t s = (retry_after_ms + 999) / 1000;
  return s == 0 ? 1 : s;
}

}  // namespace outrigger::http
