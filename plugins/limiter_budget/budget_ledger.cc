#include "budget_ledger.h"

#include <pthread.h>
#include <algorithm>
#include <cstdint>
#include <cmath>
#include <cstdio>
#include <unordered_set>
#include <utility>

namespace outrigger::budget {
namespace {

// Amounts are compared with a little slack, so a sum of doubles that should equal the limit
// does not refuse by a rounding error.
constexpr double kSlack = 1e-9;

std::string number(double v, const char* unit) {
  char buf[64];
  if (std::string_view(unit) == "USD") std::snprintf(buf, sizeof buf, "%.6g USD", v);
  else std::snprintf(buf, sizeof buf, "%.0f tokens", v);
  return buf;
}

}  // namespace

std::shared_ptr<Ledger> Ledger::create(BudgetPolicy policy, std::unique_ptr<SpendStore> store, int64_t now_ms,
                                       std::string* error) {
  std::shared_ptr<Ledger> ledger(new Ledger(std::move(policy), std::move(store)));
  if (!ledger->store_) return ledger;
  std::vector<SpendRow> rows;
  if (!ledger->store_->load(ledger->policy_.name, ledger->pruneBefore(now_ms), &rows, error)) return nullptr;
  std::lock_guard<std::mutex> lock(ledger->mu_);
  // Every key with spending in its window comes back, max_keys or not (tenants' shares may have
  // held up to twice as many, and a reload may have lowered it): a key left out would be admitted
  // afresh, and its first write would replace the spending stored for its bucket. A ledger fuller
  // than max_keys only refuses new keys until enough of these leave their window.
  for (const SpendRow& row : rows) {
    if (!ledger->policy_.window.counts(row.start, now_ms)) continue;
    auto [at, added] = ledger->keys_.try_emplace(row.key);
    if (added) ledger->share_.added(row.key);
    KeyState& ks = at->second;
    ks.buckets.push_back({row.start, {row.usd, row.tokens}, false, row.soft_warned});
  }
  for (auto& [key, ks] : ledger->keys_) {
    std::sort(ks.buckets.begin(), ks.buckets.end(), [](const Bucket& a, const Bucket& b) { return a.start < b.start; });
  }
  return ledger;
}

Ledger::~Ledger() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  if (store_) {
    auto now = std::chrono::system_clock::now().time_since_epoch();
    write(std::chrono::duration_cast<std::chrono::milliseconds>(now).count(), false);  // what is left, no pruning
  }
}

void Ledger::setPolicy(const BudgetPolicy& policy, uint64_t stamp) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stamp) {
    if (policy_stamp_.load(std::memory_order_relaxed) >= stamp) return;  // a newer instance's won the race
    policy_stamp_.store(stamp, std::memory_order_release);
  }
  WindowSpec window = policy_.window;
  policy_ = policy;
  policy_.window = window;
}

BudgetPolicy Ledger::policy() const {
  std::lock_guard<std::mutex> lock(mu_);
  return policy_;
}

Verdict Ledger::reserve(std::string_view key, const Amount& need, int64_t now_ms) {
  Verdict v = reserveLocked(key, need, now_ms);
  if (!v.admitted) refusals_.fetch_add(1, std::memory_order_relaxed);
  return v;
}

Verdict Ledger::reserveLocked(std::string_view key, const Amount& need, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  KeyState* ks = findOrAdd(key, now_ms);
  if (!ks) {
    const uint32_t wait = uint32_t(std::clamp<int64_t>(room_at_ms_ - now_ms, 1000, UINT32_MAX));
    return {false, wait, "budget \"" + policy_.name + "\" tracks " + std::to_string(policy_.max_keys) + " " +
                             policy_.key_label + " keys already, each with spending in its window"};
  }
  Amount spent = spentLocked(*ks, now_ms);
  struct Dim {
    double limit;
    double Amount::*field;
    const char* unit;
  };
  for (const Dim& d : {Dim{policy_.limit_usd, &Amount::usd, "USD"}, Dim{policy_.limit_tokens, &Amount::tokens, "tokens"}}) {
    if (d.limit <= 0) continue;
    double s = spent.*d.field, r = ks->reserved.*d.field, n = need.*d.field;
    if (s + r + n <= d.limit + kSlack) continue;
    if (n > d.limit + kSlack) {
      // Not in any window: the caller must ask for less (a lower max_tokens), not retry.
      return {false, 0, refusal(key, d.unit, s, r, n, d.limit, 0), /*never=*/true};
    }
    if (s + n > d.limit + kSlack) {
      // Spending alone leaves no room: only the window moving on frees it.
      int64_t wait = waitMs(*ks, d.limit, n, d.field, now_ms);
      return {false, uint32_t(std::min<int64_t>(wait, UINT32_MAX)), refusal(key, d.unit, s, r, n, d.limit, now_ms + wait)};
    }
    // Requests in flight hold the room; it frees as they settle.
    return {false, 1000, refusal(key, d.unit, s, r, n, d.limit, 0)};
  }
  ks->reserved.usd += need.usd;
  ks->reserved.tokens += need.tokens;
  ++ks->reservations;
  return {true, 0, {}};
}

Settled Ledger::settle(std::string_view key, const Amount& reserved, const Amount& used, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = keys_.find(key);
  if (it == keys_.end()) {  // never evicted while reserved
    it = keys_.emplace(std::string(key), KeyState{}).first;
    share_.added(key);
  }
  KeyState& ks = it->second;
  ks.reserved.usd = std::max(0.0, ks.reserved.usd - reserved.usd);
  ks.reserved.tokens = std::max(0.0, ks.reserved.tokens - reserved.tokens);
  if (ks.reservations > 0) --ks.reservations;
  if (ks.reservations == 0) ks.reserved = {};
  prune(&ks, now_ms);
  Settled out;
  if (used.usd > 0 || used.tokens > 0) {
    int64_t start = policy_.window.bucketStart(now_ms);
    if (ks.buckets.empty() || ks.buckets.back().start != start) ks.buckets.push_back({start, {}, false, false});
    Bucket& b = ks.buckets.back();
    b.spent.usd += std::max(0.0, used.usd);
    b.spent.tokens += std::max(0.0, used.tokens);
    b.dirty = store_ != nullptr;  // only a store writes a bucket and clears it: in memory, dirty would never clear
  }
  out.spent = spentLocked(ks, now_ms);
  if (policy_.soft_percent <= 0) return out;
  bool warned = std::any_of(ks.buckets.begin(), ks.buckets.end(),
                            [&](const Bucket& b) { return b.warned && policy_.window.counts(b.start, now_ms); });
  double share = policy_.soft_percent / 100;
  bool over = (policy_.limit_usd > 0 && out.spent.usd >= policy_.limit_usd * share - kSlack) ||
              (policy_.limit_tokens > 0 && out.spent.tokens >= policy_.limit_tokens * share - kSlack);
  if (over && !warned && !ks.buckets.empty()) {
    ks.buckets.back().warned = true;
    ks.buckets.back().dirty = store_ != nullptr;
    soft_crossings_.fetch_add(1, std::memory_order_relaxed);
    out.soft_crossed = true;
  }
  return out;
}

Amount Ledger::spent(std::string_view key, int64_t now_ms) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = keys_.find(key);
  return it == keys_.end() ? Amount{} : spentLocked(it->second, now_ms);
}

std::vector<KeyFigures> Ledger::mostUsed(size_t n, int64_t now_ms, size_t* tracked) const {
  std::lock_guard<std::mutex> lock(mu_);
  *tracked = keys_.size();
  std::vector<KeyFigures> all;
  all.reserve(keys_.size());
  for (const auto& [key, ks] : keys_) {
    KeyFigures f{key, spentLocked(ks, now_ms), ks.reserved, 0};
    if (policy_.limit_usd > 0) f.used = std::max(f.used, f.spent.usd / policy_.limit_usd);
    if (policy_.limit_tokens > 0) f.used = std::max(f.used, f.spent.tokens / policy_.limit_tokens);
    all.push_back(std::move(f));
  }
  auto more_used = [](const KeyFigures& a, const KeyFigures& b) { return a.used != b.used ? a.used > b.used : a.key < b.key; };
  n = std::min(n, all.size());
  std::partial_sort(all.begin(), all.begin() + ptrdiff_t(n), all.end(), more_used);
  all.resize(n);
  return all;
}

Amount Ledger::reserved(std::string_view key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = keys_.find(key);
  return it == keys_.end() ? Amount{} : it->second.reserved;
}

Ledger::KeyState* Ledger::findOrAdd(std::string_view key, int64_t now_ms) {
  auto it = keys_.find(key);
  if (it != keys_.end()) return &it->second;
  // Forget keys that hold nothing: no reservation, no spending in the window, nothing unwritten.
  // The sweep reads every key with the lock held, so a full ledger sweeps at most once a second:
  // new keys meanwhile are decided without one.
  if (keys_.size() >= policy_.max_keys && now_ms >= next_sweep_ms_) {
    next_sweep_ms_ = now_ms + kFullSweepEveryMs;
    room_at_ms_ = INT64_MAX;  // when the first key still held may be forgotten
    for (auto k = keys_.begin(); k != keys_.end();) {
      if (idle(k->second, now_ms)) {
        share_.removed(k->first);
        k = keys_.erase(k);
        continue;
      }
      room_at_ms_ = std::min(room_at_ms_, idleFrom(k->second, now_ms));
      ++k;
    }
  }
  // Still full: only a tenant holding less than its share adds a key (tenant_share.h).
  if (keys_.size() >= policy_.max_keys && !share_.mayExceed(key, keys_.size(), policy_.max_keys)) return nullptr;
  share_.added(key);
  return &keys_.emplace(std::string(key), KeyState{}).first->second;
}

bool Ledger::idle(const KeyState& ks, int64_t now_ms) const {
  if (ks.reserved.usd > 0 || ks.reserved.tokens > 0) return false;
  return std::none_of(ks.buckets.begin(), ks.buckets.end(),
                      [&](const Bucket& b) { return b.dirty || policy_.window.counts(b.start, now_ms); });
}

int64_t Ledger::idleFrom(const KeyState& ks, int64_t now_ms) const {
  // A reservation goes when its request ends (soon); spending when its last bucket leaves the window.
  if (ks.reserved.usd > 0 || ks.reserved.tokens > 0 || ks.buckets.empty()) return now_ms;
  if (std::any_of(ks.buckets.begin(), ks.buckets.end(), [](const Bucket& b) { return b.dirty; })) return now_ms;
  return policy_.window.expiresMs(ks.buckets.back().start);
}

Amount Ledger::spentLocked(const KeyState& ks, int64_t now_ms) const {
  Amount sum;
  for (const Bucket& b : ks.buckets) {
    if (!policy_.window.counts(b.start, now_ms)) continue;
    sum.usd += b.spent.usd;
    sum.tokens += b.spent.tokens;
  }
  return sum;
}

void Ledger::prune(KeyState* ks, int64_t now_ms) const {
  auto gone = [&](const Bucket& b) { return !b.dirty && !policy_.window.counts(b.start, now_ms); };
  ks->buckets.erase(std::remove_if(ks->buckets.begin(), ks->buckets.end(), gone), ks->buckets.end());
}

// How long until enough of the key's spending leaves the window for `need` to fit (reservations
// aside): the window's end for a calendar window, the expiry of the bucket that frees enough for
// a rolling one. A need larger than the whole limit waits for the whole window.
int64_t Ledger::waitMs(const KeyState& ks, double limit, double need, double Amount::*dim, int64_t now_ms) const {
  double left = 0;
  for (const Bucket& b : ks.buckets) {
    if (policy_.window.counts(b.start, now_ms)) left += b.spent.*dim;
  }
  int64_t until = policy_.window.expiresMs(policy_.window.bucketStart(now_ms));
  for (const Bucket& b : ks.buckets) {
    if (!policy_.window.counts(b.start, now_ms)) continue;
    until = policy_.window.expiresMs(b.start);
    left -= b.spent.*dim;
    if (left + need <= limit + kSlack) break;
  }
  return std::max<int64_t>(until - now_ms, 1);  // a rolling window may be longer than 49 days of ms in 32 bits
}

std::string Ledger::refusal(std::string_view key, const char* unit, double spent, double reserved, double need,
                            double limit, int64_t reset_ms) const {
  std::string who = policy_.key_label + " \"" + std::string(key) + "\"";
  std::string head = "budget \"" + policy_.name + "\" (" + policy_.window.describe() + ", " + number(limit, unit) +
                     ") for " + who + ": ";
  if (need > limit + kSlack) {
    return head + "this request's worst case of " + number(need, unit) +
           " exceeds the whole budget: ask for fewer output tokens (max_tokens)";
  }
  if (reset_ms == 0) {
    return head + number(spent, unit) + " spent and " + number(reserved, unit) +
           " reserved by requests in flight leave no room for this request's worst case of " + number(need, unit);
  }
  std::string what = spent >= limit - kSlack ? number(spent, unit) + " spent"
                                             : number(spent, unit) + " spent leaves no room for this request's worst case of " +
                                                   number(need, unit);
  return head + what + "; resets at " + isoUtc(reset_ms);
}

int64_t Ledger::pruneBefore(int64_t now_ms) const {
  int64_t current = policy_.window.bucketStart(now_ms);
  if (policy_.window.kind != WindowKind::kRolling) return current;
  return current - policy_.window.seconds - policy_.window.bucketSeconds(current);
}

void Ledger::latestPerBucket(std::vector<SpendRow>* rows) {
  std::unordered_set<std::string> seen;
  std::vector<SpendRow> kept;
  for (auto it = rows->rbegin(); it != rows->rend(); ++it) {  // the newest come last
    std::string bucket = it->key + '\x1f' + std::to_string(it->start);
    if (seen.insert(std::move(bucket)).second) kept.push_back(std::move(*it));
  }
  std::reverse(kept.begin(), kept.end());
  *rows = std::move(kept);
}

bool Ledger::write(int64_t now_ms, bool prune) {
  if (!store_) return true;
  std::lock_guard<std::mutex> serial(flush_mu_);
  std::vector<SpendRow> rows = std::move(unwritten_);
  unwritten_.clear();
  std::string name;
  int64_t prune_before = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    name = policy_.name;
    for (auto& [key, ks] : keys_) {
      for (Bucket& b : ks.buckets) {
        if (!b.dirty) continue;
        rows.push_back({key, b.start, b.spent.usd, b.spent.tokens, b.warned});
        b.dirty = false;
      }
    }
    // Old rows go once a minute; they no longer count anyway.
    if (prune && now_ms - last_prune_ms_ >= 60000) {
      prune_before = pruneBefore(now_ms);
      last_prune_ms_ = now_ms;
    }
  }
  if (rows.empty() && prune_before == 0) return true;
  latestPerBucket(&rows);
  std::string error;
  if (store_->write(name, rows, prune_before, now_ms, &error)) return true;
  // Kept for the next flush. Rows carry whole amounts, so a newer row for the same bucket replaces
  // an older one: while the store keeps failing these stay one per bucket, not one per flush.
  unwritten_ = std::move(rows);
  std::lock_guard<std::mutex> lock(mu_);
  error_ = "cannot write budget \"" + name + "\": " + error;
  has_error_.store(true, std::memory_order_release);
  return false;
}

void Ledger::startFlusher(std::chrono::milliseconds every, Clock clock) {
  if (!store_ || flusher_.joinable()) return;
  flusher_ = std::thread([this, every, clock = std::move(clock)] {
    pthread_setname_np(pthread_self(), "or-budget");
    std::unique_lock<std::mutex> lock(stop_mu_);
    while (!stop_cv_.wait_for(lock, every, [this] { return stop_; })) {
      lock.unlock();
      flush(clock());
      lock.lock();
    }
  });
}

std::string Ledger::takeError() {
  if (!has_error_.exchange(false, std::memory_order_acquire)) return {};
  std::lock_guard<std::mutex> lock(mu_);
  return std::exchange(error_, {});
}

}  // namespace outrigger::budget
