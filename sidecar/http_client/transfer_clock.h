// The phase timeouts of one outbound transfer, shared by both transports (libcurl and the plain
// HTTP/1.1 one) so they time out alike: connect, first byte (until the response head), idle gap
// between body pieces (suspended while the receiver paused), total, and the request's deadline,
// which always wins. All instants are absolute monotonic nanoseconds.
#pragma once

#include <algorithm>
#include <cstdint>

#include <outrigger/plugin.h>

#include "http_client/http_client.h"

namespace outrigger::http_client {

constexpr uint64_t kMsNs = 1000000;

struct TransferClock {
  uint64_t connect_ns = 0;     // the connect timeout's length
  uint64_t connect_at = 0;     // set when a connection starts opening
  uint64_t first_byte_at = 0;
  uint64_t total_at = 0;
  uint64_t deadline_at = 0;    // 0: none
  uint64_t idle_ns = 0;
  uint64_t last_data_ns = 0;

  // The request's own timeouts, the settings' where it gives 0.
  void start(uint64_t now, const outrigger_http_request& request, const HttpClientSettings& settings,
             uint64_t deadline_ns) {
    auto pick = [](uint32_t asked, uint32_t fallback) { return uint64_t(asked ? asked : fallback) * kMsNs; };
    connect_ns = pick(request.connect_timeout_ms, settings.connect_timeout_ms);
    connect_at = now + connect_ns;
    first_byte_at = now + pick(request.first_byte_timeout_ms, settings.first_byte_timeout_ms);
    idle_ns = pick(request.idle_timeout_ms, settings.idle_timeout_ms);
    total_at = now + pick(request.total_timeout_ms, settings.total_timeout_ms);
    deadline_at = deadline_ns;
  }

  // When the earliest phase that applies runs out.
  uint64_t nextAt(bool connecting, bool head_delivered, bool paused) const {
    uint64_t at = total_at;
    if (deadline_at && deadline_at < at) at = deadline_at;
    if (connecting) at = std::min(at, connect_at);
    if (!head_delivered) at = std::min(at, first_byte_at);
    else if (!paused && idle_ns) at = std::min(at, last_data_ns + idle_ns);
    return at;
  }

  // A timer delay for `at`, rounded up: a timer that fires early would find nothing due.
  static uint64_t delayMs(uint64_t now, uint64_t at) { return at > now ? (at - now + kMsNs - 1) / kMsNs : 0; }

  // The phase that ran out at `now`, in the order deadline, total, connect, first byte, idle;
  // OUTRIGGER_HTTP_OK when none has (the timer fired a little early).
  outrigger_http_error expired(uint64_t now, bool connecting, bool head_delivered, bool paused) const {
    if (deadline_at && now >= deadline_at) return OUTRIGGER_HTTP_E_DEADLINE;
    if (now >= total_at) return OUTRIGGER_HTTP_E_TOTAL_TIMEOUT;
    if (connecting && now >= connect_at) return OUTRIGGER_HTTP_E_CONNECT_TIMEOUT;
    if (!head_delivered && now >= first_byte_at) return OUTRIGGER_HTTP_E_FIRST_BYTE_TIMEOUT;
    if (head_delivered && !paused && idle_ns && now >= last_data_ns + idle_ns) return OUTRIGGER_HTTP_E_IDLE_TIMEOUT;
    return OUTRIGGER_HTTP_OK;
  }
};

// The message of a transfer the client itself ended (a timeout, an abort, a cancel).
inline const char* endedText(outrigger_http_error e) {
  switch (e) {
    case OUTRIGGER_HTTP_E_CONNECT_TIMEOUT: return "no connection within the connect timeout";
    case OUTRIGGER_HTTP_E_FIRST_BYTE_TIMEOUT: return "no response within the first-byte timeout";
    case OUTRIGGER_HTTP_E_IDLE_TIMEOUT: return "response body stalled past the idle timeout";
    case OUTRIGGER_HTTP_E_TOTAL_TIMEOUT: return "transfer exceeded its total timeout";
    case OUTRIGGER_HTTP_E_DEADLINE: return "request deadline reached during the transfer";
    case OUTRIGGER_HTTP_E_ABORTED: return "transfer aborted by its receiver";
    case OUTRIGGER_HTTP_E_CANCELLED: return "transfer cancelled";
    default: return "transfer failed";
  }
}

}  // namespace outrigger::http_client
