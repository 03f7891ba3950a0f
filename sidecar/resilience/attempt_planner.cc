#include "resilience/attempt_planner.h"

#include <algorithm>

namespace outrigger::resilience {
namespace {
constexpr uint64_t kMsNs = 1000000;

bool fallsBack(const AttemptFailure& f) {
  // Retryable faults, and failures that belong to this target (its key, its quota, its
  // deployment, what it can do) rather than to the request: another target may well succeed.
  return f.retryable || f.code == OUTRIGGER_CODE_UNAUTHENTICATED || f.code == OUTRIGGER_CODE_PERMISSION_DENIED ||
         f.code == OUTRIGGER_CODE_RESOURCE_EXHAUSTED || f.code == OUTRIGGER_CODE_NOT_FOUND ||
         f.code == OUTRIGGER_CODE_UNAVAILABLE || f.code == OUTRIGGER_CODE_UNIMPLEMENTED;
}
// Whether a failure says the target is unwell. A request's own fault does not, and neither does
// rate limiting (429, RESOURCE_EXHAUSTED): the target is healthy and busy, and opening its breaker
// would turn "slow down" into "unavailable" for every caller.
bool countsAgainstBreaker(const AttemptFailure& f) {
  return f.retryable && f.code != OUTRIGGER_CODE_RESOURCE_EXHAUSTED;
}
}  // namespace

AttemptPlanner::AttemptPlanner(RoutePolicy policy, std::vector<TargetView> targets, uint64_t deadline_ns, uint64_t seed)
    : policy_(policy), targets_(std::move(targets)), deadline_ns_(deadline_ns), rng_(seed) {
  for (size_t i = 0; i < targets_.size(); ++i) order_.push_back(i);
  if (policy_.strategy == Strategy::kLowestLatency) {
    // Unmeasured targets (-1) sort first so every target gets measured.
    std::stable_sort(order_.begin(), order_.end(),
                     [&](size_t a, size_t b) { return targets_[a].latency_ms < targets_[b].latency_ms; });
  }
  if (policy_.strategy == Strategy::kWeighted && targets_.size() > 1) {
    uint64_t total = 0;
    for (const auto& t : targets_) total += t.weight;
    if (total > 0) {
      uint64_t draw = std::uniform_int_distribution<uint64_t>(0, total - 1)(rng_);
      size_t pick = 0;
      for (; pick < targets_.size(); ++pick) {
        if (draw < targets_[pick].weight) break;
        draw -= targets_[pick].weight;
      }
      // The drawn target first, the rest keep their listed order as the fallback chain.
      order_.erase(order_.begin() + pick);
      order_.insert(order_.begin(), pick);
    }
  }
}

uint32_t AttemptPlanner::backoffMs(uint32_t retry) {
  uint64_t cap = policy_.retry.base_backoff_ms;
  for (uint32_t i = 1; i < retry && cap < policy_.retry.max_backoff_ms; ++i) cap *= 2;
  cap = std::min<uint64_t>(cap, policy_.retry.max_backoff_ms);
  return uint32_t(std::uniform_int_distribution<uint64_t>(0, cap)(rng_));
}

bool AttemptPlanner::fits(uint64_t now_ns, uint32_t delay_ms) const {
  if (deadline_ns_ == 0) return true;
  return now_ns + (uint64_t(delay_ms) + policy_.retry.min_attempt_ms) * kMsNs <= deadline_ns_;
}

uint32_t AttemptPlanner::soonestReopenMs(uint64_t now_ns) const {
  uint32_t best = 0;
  for (const auto& t : targets_) {
    uint32_t r = t.breaker ? t.breaker->openRemainingMs(now_ns) : 0;
    if (r && (best == 0 || r < best)) best = r;
  }
  return best;
}

bool AttemptPlanner::admit(size_t from, uint64_t now_ns, size_t* pos, std::string* skipped) {
  auto skip = [&](const TargetView& t, const char* why) {
    *skipped += (skipped->empty() ? "skipped: " : ", ") + t.key + " (" + why + ")";
  };
  for (size_t p = from; p < order_.size(); ++p) {
    const TargetView& t = targets_[order_[p]];
    if (atConcurrencyLimit(t)) {
      ++counters_.limit_skips;
      skip(t, "at its concurrency limit");
      continue;
    }
    // Taken, not only looked at: another worker may be after the same last token.
    if (t.rpm && !t.rpm->take(now_ns)) {
      ++counters_.rate_skips;
      skip(t, "over its rate limit");
      continue;
    }
    if (t.tpm && t.tpm->limited() && t.tpm->waitMs(now_ns, t.token_need) > 0) {
      refundRequest(t, now_ns);
      ++counters_.rate_skips;
      skip(t, "over its token limit");
      continue;
    }
    if (take(t, now_ns)) {
      *pos = p;
      return true;
    }
    refundRequest(t, now_ns);
    ++counters_.breaker_skips;
    skip(t, "breaker open");
  }
  return false;
}

bool AttemptPlanner::atConcurrencyLimit(const TargetView& t) const {
  return t.max_concurrent && t.in_flight && t.in_flight->load() >= t.max_concurrent;
}

void AttemptPlanner::refundRequest(const TargetView& t, uint64_t now_ns) {
  if (t.rpm) t.rpm->charge(now_ns, -1);
}

Decision AttemptPlanner::first(uint64_t now_ns) {
  Decision d;
  std::string skipped;
  size_t p = 0;
  // Only this call's skips count: a request tried again from a limit queue calls first() anew.
  uint32_t limited_before = counters_.limit_skips + counters_.rate_skips;
  if (order_.empty() || !admit(0, now_ns, &p, &skipped)) {
    d.retry_after_ms = soonestReopenMs(now_ns);
    d.at_limit = counters_.limit_skips + counters_.rate_skips > limited_before;
    for (const auto& t : targets_) {
      uint32_t w = std::max(t.rpm ? t.rpm->waitMs(now_ns) : 0u, t.tpm ? t.tpm->waitMs(now_ns, t.token_need) : 0u);
      if (w && (d.retry_after_ms == 0 || w < d.retry_after_ms)) d.retry_after_ms = w;
    }
    d.note = "give up: no target available; " + skipped;
    return d;
  }
  pos_ = p;
  tries_here_ = 1;
  d.kind = Decision::Kind::kStart;
  d.target = order_[p];
  if (RetryBudget* b = targets_[d.target].budget) b->deposit();
  const char* how = policy_.strategy == Strategy::kWeighted        ? " (weighted)"
                    : policy_.strategy == Strategy::kLowestLatency ? " (lowest latency)"
                                                                   : "";
  d.note = "attempt 1 on " + targets_[d.target].key + how + (skipped.empty() ? "" : "; " + skipped);
  return d;
}

Decision AttemptPlanner::afterFailure(uint64_t now_ns, const AttemptFailure& f, bool chunk_sent) {
  in_flight_ = false;
  TargetView& here = targets_[order_[pos_]];
  if (here.breaker) {
    if (countsAgainstBreaker(f)) here.breaker->onFailure(now_ns);
    else release(here);  // nothing about the target's health: a probe slot goes back unjudged
  }
  holds_probe_ = false;
  Decision d;
  std::string state = here.breaker ? std::string(" breaker=") + stateName(here.breaker->state(now_ns)) : "";
  if (chunk_sent) {
    d.note = "give up: a chunk already reached the client" + state;
    return d;
  }
  if (!fallsBack(f)) {
    d.note = "give up: not retryable (code " + std::to_string(f.code) + ")" + state;
    return d;
  }
  // Same target again, after a backoff, while it has attempts left and its breaker admits it.
  if (f.retryable && tries_here_ < policy_.retry.max_attempts && f.retry_after_ms <= policy_.retry.max_retry_after_ms) {
    uint32_t delay = std::max(backoffMs(tries_here_), f.retry_after_ms);
    bool budget_ok = !here.budget || here.budget->withdraw();
    if (!budget_ok) ++counters_.budget_denials;
    bool rate_ok = budget_ok && (!here.rpm || here.rpm->take(now_ns));  // a retry is a request to the upstream too
    if (budget_ok && !rate_ok) ++counters_.rate_skips;
    bool go = rate_ok && fits(now_ns, delay) && take(here, now_ns);
    if (rate_ok && !go) refundRequest(here, now_ns);  // no retry after all: the token goes back
    if (go) {
      ++tries_here_;
      ++counters_.retries;
      d.kind = Decision::Kind::kStart;
      d.target = order_[pos_];
      d.delay_ms = delay;
      d.note = "retry " + here.key + " attempt " + std::to_string(tries_here_) + " after " + std::to_string(delay) +
               " ms" + (f.retry_after_ms ? " (retry-after " + std::to_string(f.retry_after_ms) + " ms)" : "") + state;
      return d;
    }
  }
  std::string skipped;
  size_t p = 0;
  // A hedge that failed already had its turn: fallback goes on after it.
  if (!admit(std::max(pos_ + 1, hedge_pos_ + 1), now_ns, &p, &skipped)) {
    d.retry_after_ms = soonestReopenMs(now_ns);
    d.note = "give up: no fallback target left" + state + (skipped.empty() ? "" : "; " + skipped);
    return d;
  }
  if (!fits(now_ns, 0)) {
    release(targets_[order_[p]]);
    refundRequest(targets_[order_[p]], now_ns);  // its rate token too: nothing was sent
    d.note = "give up: no time left before the deadline for another attempt" + state;
    return d;
  }
  std::string from = here.key;
  std::string why = counters_.budget_denials ? " (retry budget of " + from + " exhausted)" : "";
  pos_ = p;
  tries_here_ = 1;
  ++counters_.fallbacks;
  d.kind = Decision::Kind::kStart;
  d.target = order_[p];
  if (RetryBudget* b = targets_[d.target].budget) b->deposit();
  d.note = "fallback " + from + " -> " + targets_[d.target].key + why + state + (skipped.empty() ? "" : "; " + skipped);
  return d;
}

Decision AttemptPlanner::hedge(uint64_t now_ns) {
  Decision d;
  if (order_.empty() || hedge_pos_ != 0 || !in_flight_) return d;
  const TargetView& here = targets_[order_[pos_]];
  for (size_t p = pos_ + 1; p < order_.size(); ++p) {
    const TargetView& t = targets_[order_[p]];
    // One plugin instance tracks its calls by request, so it cannot run two attempts of one request.
    if (t.instance && t.instance == here.instance) continue;
    // A hedge is optional load: it never takes a half-open probe or goes past a limit.
    if (t.breaker && t.breaker->state(now_ns) != CircuitBreaker::State::kClosed) continue;
    if (atConcurrencyLimit(t)) continue;
    if (t.tpm && t.tpm->limited() && t.tpm->waitMs(now_ns, t.token_need) > 0) continue;
    if (!fits(now_ns, 0)) break;
    if (t.rpm && !t.rpm->take(now_ns)) continue;
    hedge_pos_ = p;
    ++counters_.hedges;
    ++counters_.attempts;
    d.kind = Decision::Kind::kStart;
    d.target = order_[p];
    d.note = "hedge " + here.key + " -> " + t.key + " (no answer yet)";
    return d;
  }
  d.note = "no hedge: no other target admitted";
  return d;
}

void AttemptPlanner::hedgeNotStarted(uint64_t now_ns) {
  if (hedge_pos_ != 0) refundRequest(targets_[order_[hedge_pos_]], now_ns);
}

void AttemptPlanner::hedgeFailed(uint64_t now_ns, const AttemptFailure& f) {
  if (hedge_pos_ == 0) return;
  if (CircuitBreaker* b = targets_[order_[hedge_pos_]].breaker; b && countsAgainstBreaker(f)) b->onFailure(now_ns);
}

void AttemptPlanner::currentFailedWhileHedged(uint64_t now_ns, const AttemptFailure& f) {
  TargetView& here = targets_[order_[pos_]];
  if (here.breaker) {
    if (countsAgainstBreaker(f)) here.breaker->onFailure(now_ns);
    else release(here);
  }
  holds_probe_ = false;
  pos_ = hedge_pos_;
  tries_here_ = 1;
}

void AttemptPlanner::hedgeWon() {
  release(targets_[order_[pos_]]);  // the cancelled attempt gives back a probe without a verdict
  pos_ = hedge_pos_;
  tries_here_ = 1;
}

bool AttemptPlanner::take(const TargetView& t, uint64_t now_ns) {
  if (!t.breaker) return true;
  bool probe = false;
  if (!t.breaker->allow(now_ns, &probe, &probe_epoch_)) return false;
  holds_probe_ = probe;
  return true;
}

void AttemptPlanner::release(const TargetView& t) {
  if (holds_probe_ && t.breaker) t.breaker->onAbandon(probe_epoch_);
  holds_probe_ = false;
}

void AttemptPlanner::succeeded() {
  in_flight_ = false;
  bool was_probe = holds_probe_;
  holds_probe_ = false;
  if (CircuitBreaker* b = targets_[order_[pos_]].breaker) b->onSuccess(was_probe, probe_epoch_);
}

void AttemptPlanner::streamStarted() {
  if (!holds_probe_) return;
  holds_probe_ = false;
  if (CircuitBreaker* b = targets_[order_[pos_]].breaker) b->onSuccess(/*was_probe=*/true, probe_epoch_);
}

void AttemptPlanner::abandoned() {
  if (!order_.empty()) release(targets_[order_[pos_]]);
  in_flight_ = false;
}

}  // namespace outrigger::resilience
