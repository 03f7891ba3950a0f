#include "resilience/circuit_breaker.h"

#include <algorithm>

namespace outrigger::resilience {

bool CircuitBreaker::allow(uint64_t now_ns) {
  switch (state(now_ns)) {
    case State::kClosed:
      return true;
    case State::kOpen:
      return false;
    case State::kHalfOpen:
      if (probing_) return false;
      probing_ = true;
      return true;
  }
  return false;
}

void CircuitBreaker::record(bool failed) {
  if (policy_.error_rate_percent == 0) return;
  window_.push_back(failed);
  window_failures_ += failed;
  while (window_.size() > std::max<uint32_t>(policy_.window, 1)) {
    window_failures_ -= window_.front();
    window_.pop_front();
  }
}

bool CircuitBreaker::overErrorRate() const {
  if (policy_.error_rate_percent == 0 || window_.size() < std::max<uint32_t>(policy_.window, 1)) return false;
  return uint64_t(window_failures_) * 100 >= uint64_t(policy_.error_rate_percent) * window_.size();
}

void CircuitBreaker::trip(uint64_t now_ns) {
  if (!open_ || probing_) ++opened_;
  open_ = true;
  open_until_ns_ = now_ns + uint64_t(policy_.open_ms) * 1000000;
  window_.clear();  // a fresh window after the breaker closes again
  window_failures_ = 0;
}

void CircuitBreaker::onSuccess() {
  consecutive_failures_ = 0;
  if (open_) {
    window_.clear();
    window_failures_ = 0;
  } else {
    record(false);
  }
  open_ = false;
  probing_ = false;
}

void CircuitBreaker::onFailure(uint64_t now_ns) {
  bool was_probe = probing_;
  ++consecutive_failures_;
  record(true);
  bool by_count = policy_.failure_threshold != 0 && consecutive_failures_ >= policy_.failure_threshold;
  if (was_probe || by_count || overErrorRate()) trip(now_ns);
  probing_ = false;
}

void CircuitBreaker::onAbandon() { probing_ = false; }

CircuitBreaker::State CircuitBreaker::state(uint64_t now_ns) const {
  if (!open_) return State::kClosed;
  return now_ns >= open_until_ns_ ? State::kHalfOpen : State::kOpen;
}

uint32_t CircuitBreaker::openRemainingMs(uint64_t now_ns) const {
  if (!open_ || now_ns >= open_until_ns_) return 0;
  return uint32_t((open_until_ns_ - now_ns + 999999) / 1000000);
}

const char* stateName(CircuitBreaker::State s) {
  switch (s) {
    case CircuitBreaker::State::kClosed: return "closed";
    case CircuitBreaker::State::kOpen: return "open";
    case CircuitBreaker::State::kHalfOpen: return "half-open";
  }
  return "?";
}

}  // namespace outrigger::resilience
