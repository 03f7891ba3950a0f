#include "resilience/circuit_breaker.h"

#include <algorithm>

namespace outrigger::resilience {

bool CircuitBreaker::allow(uint64_t now_ns, bool* took_probe, uint64_t* probe_epoch) {
  std::lock_guard<std::mutex> lock(mu_);
  if (took_probe) *took_probe = false;
  switch (stateLocked(now_ns)) {
    case State::kClosed:
      return true;
    case State::kOpen:
      return false;
    case State::kHalfOpen:
      if (probing_) return false;
      probing_ = true;
      if (probe_epoch) *probe_epoch = trips_;
      if (took_probe) *took_probe = true;
      return true;
  }
  return false;
}

void CircuitBreaker::setPolicy(const BreakerPolicy& p) {
  std::lock_guard<std::mutex> lock(mu_);
  policy_ = p;
}

void CircuitBreaker::openFor(uint64_t now_ns, uint32_t open_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t until = now_ns + uint64_t(open_ms) * 1000000;
  if (stateLocked(now_ns) == State::kOpen && open_until_ns_ >= until) return;
  open_ = true;
  opened_here_ = false;
  open_until_ns_ = until;
  probing_ = false;
  ++trips_;  // a probe already out answers for the state before this trip
  window_.clear();
  window_failures_ = 0;
}

bool CircuitBreaker::openedHere() const {
  std::lock_guard<std::mutex> lock(mu_);
  return open_ && opened_here_;
}

uint64_t CircuitBreaker::timesOpened() const {
  std::lock_guard<std::mutex> lock(mu_);
  return opened_;
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
  ++trips_;
  open_ = true;
  opened_here_ = true;
  open_until_ns_ = now_ns + uint64_t(policy_.open_ms) * 1000000;
  window_.clear();  // a fresh window after the breaker closes again
  window_failures_ = 0;
}

void CircuitBreaker::onSuccess(bool was_probe, uint64_t probe_epoch) {
  std::lock_guard<std::mutex> lock(mu_);
  // Only the probe of the current trip closes: a slower attempt admitted before it, or a probe
  // out when another sidecar's trip arrived (openFor), says nothing about the target now.
  if (open_ && (!was_probe || probe_epoch != trips_)) return;
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
  std::lock_guard<std::mutex> lock(mu_);
  bool was_probe = probing_;
  ++consecutive_failures_;
  record(true);
  bool by_count = policy_.failure_threshold != 0 && consecutive_failures_ >= policy_.failure_threshold;
  if (was_probe || by_count || overErrorRate()) trip(now_ns);
  probing_ = false;
}

void CircuitBreaker::onAbandon(uint64_t probe_epoch) {
  std::lock_guard<std::mutex> lock(mu_);
  if (probe_epoch == trips_) probing_ = false;
}

CircuitBreaker::State CircuitBreaker::state(uint64_t now_ns) const {
  std::lock_guard<std::mutex> lock(mu_);
  return stateLocked(now_ns);
}

CircuitBreaker::State CircuitBreaker::stateLocked(uint64_t now_ns) const {
  if (!open_) return State::kClosed;
  return now_ns >= open_until_ns_ ? State::kHalfOpen : State::kOpen;
}

uint32_t CircuitBreaker::openRemainingMs(uint64_t now_ns) const {
  std::lock_guard<std::mutex> lock(mu_);
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
