// RequestContext::callHook, for the files that run a request's stages: one span per hook call,
// the in-hook flags that tell a completion inside its own call from a later one, and the
// slow-hook warning.
#pragma once

#include <string>

#include "chain/request_context.h"
#include "common/clock.h"
#include "common/log.h"

namespace outrigger::chain {

template <class F>
outrigger_status RequestContext::callHook(const Stage& stage, const char* span_stage, F&& hook) {
  spans_.push_back({span_stage, stage.instance->name(), monoNowNs(), 0, ""});
  in_hook_ = true;
  completed_in_hook_ = false;
  uint64_t t0 = spans_.back().start_ns;
  outrigger_status rc = hook();
  in_hook_ = false;
  uint64_t took_us = (monoNowNs() - t0) / 1000;
  if (took_us > engine_.settings().slow_hook_warn_us) {
    uint64_t n = engine_.counters().slow_hooks.fetch_add(1, std::memory_order_relaxed);
    if (n < 10 || n % 1000 == 0) {
      ORLOG(LogLevel::kWarn, stage.origin, std::string(span_stage) + " blocked the loop for " + std::to_string(took_us) + " us");
    }
  }
  return rc;
}

}  // namespace outrigger::chain
