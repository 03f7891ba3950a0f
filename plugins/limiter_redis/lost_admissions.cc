#include "lost_admissions.h"

#include <algorithm>

namespace outrigger::limiter {

namespace {

constexpr uint64_t kMs = 1000000;
constexpr uint32_t kRetryMs = 1000;

}  // namespace

LostAdmissions::LostAdmissions(plugin::Host host, std::shared_ptr<redis::RedisClient> redis,
                               const redis::RedisScript& settle, std::shared_ptr<FleetCounters> counters,
                               uint32_t lease_ms)
    : host_(host), redis_(std::move(redis)), settle_(settle), counters_(std::move(counters)), lease_ms_(lease_ms) {}

LostAdmissions::~LostAdmissions() { *alive_ = false; }

void LostAdmissions::add(const Release& a) {
  if (lost_.size() >= kMaxPending) {
    lost_.pop_front();
    counters_->lost_releases_dropped.fetch_add(1);
  }
  auto lost = std::make_shared<Lost>();
  lost->keys = a.keys;
  lost->limits = a.limits;
  lost->id = a.id;
  lost->budget_ttl_s = a.budget_ttl_s;
  lost->expires_ns = host_.nowNs() + uint64_t(lease_ms_) * kMs;
  lost_.push_back(std::move(lost));
  counters_->lost_admissions.fetch_add(1);
  pump();
}

// Sends every release not already on its way; a failed one waits for the next round.
void LostAdmissions::pump() {
  const uint64_t now = host_.nowNs();
  while (!lost_.empty() && lost_.front()->expires_ns <= now && !lost_.front()->in_flight) lost_.pop_front();
  // A reply may come before eval returns and take its entry off the list: send from a copy.
  std::vector<std::shared_ptr<Lost>> to_send;
  for (const std::shared_ptr<Lost>& lost : lost_) {
    if (!lost->in_flight) to_send.push_back(lost);
  }
  for (const std::shared_ptr<Lost>& lost : to_send) {
    lost->in_flight = true;
    // give_back 0 and no token delta: whether the script charged the rates is unknown, and
    // leaving them charged errs toward the limit. The tombstone lasts as long as the lease.
    std::vector<std::string> args = {std::to_string(lost->limits.rpm), std::to_string(lost->limits.tpm), "0", "0",
                                     lost->id, "0", std::to_string(lost->budget_ttl_s), "1",
                                     std::to_string(lease_ms_)};
    redis_->eval(settle_, lost->keys, args, [this, alive = alive_, lost](const redis::RedisResult& r) {
      if (!*alive) return;
      lost->in_flight = false;
      if (r.ok()) {
        lost_.erase(std::remove(lost_.begin(), lost_.end(), lost), lost_.end());
        counters_->lost_released.fetch_add(1);
        return;
      }
      retryLater();
    });
  }
}

void LostAdmissions::retryLater() {
  if (retry_armed_ || lost_.empty()) return;
  uint64_t id = 0;
  outrigger_status armed = host_.instanceTimer(kRetryMs, 0, [this, alive = alive_](outrigger_status status) {
    if (!*alive) return;
    retry_armed_ = false;
    if (status == OUTRIGGER_OK) pump();
  }, &id);
  retry_armed_ = armed == OUTRIGGER_OK;  // else the next release that fails tries to arm it again
}

}  // namespace outrigger::limiter
