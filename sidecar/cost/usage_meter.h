// Tokens and USD by route, provider instance and model, for /metrics. Each worker keeps its own
// meter (written on its loop, one uncontended lock per provider attempt); a scrape merges them.
// The number of label sets is capped: attempts past the cap are counted under the model "_other"
// (their route, provider instance and tenant label kept: all bounded already) and in an overflow
// counter, so a caller sending a new model name per request cannot grow the daemon's memory or
// the scrape without bound.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "api/response_sink.h"

namespace outrigger::cost {

// What one label set (route, provider, model) accumulated.
struct UsageSeries {
  std::string route, provider, model, tenant;  // tenant: "" unless [metrics] tenant_label is on
  uint64_t attempts = 0;  // provider attempts that reported usage
  uint64_t unpriced = 0;  // of those, attempts with no price for their model (cost counted as 0)
  // Token sums (64-bit, so a long-lived daemon does not wrap). cache_read and cache_write are
  // parts of input, reasoning a part of output, as in Usage.
  uint64_t input = 0, output = 0, cache_read = 0, cache_write = 0, reasoning = 0;
  double cost_usd = 0;

  void add(const UsageSeries& o);
};

// The label sets that get series of their own: the first `max` the process meets, for good.
// Every worker's meter asks the same one, so a label set has its own series on every worker or on
// none, and the merged series, and the alert rules reading their increase, never see a label set
// move into "_other" and back (which reads as a whole lifetime's spend, then as a counter reset).
class UsageSeriesCap {
 public:
  explicit UsageSeriesCap(size_t max) : max_(max) {}

  // [any] True when `key` has, or now gets, a series of its own.
  bool admit(const std::string& key);

 private:
  const size_t max_;
  std::mutex mu_;
  std::unordered_set<std::string> admitted_;
};

class UsageMeter {
 public:
  static constexpr size_t kMaxSeries = 1000;

  // `cap`: the process's, shared by every worker's meter and outliving them; nullptr gives this
  // meter a private one of kMaxSeries.
  explicit UsageMeter(UsageSeriesCap* cap = nullptr)
      : own_cap_(cap ? nullptr : std::make_unique<UsageSeriesCap>(kMaxSeries)), cap_(cap ? cap : own_cap_.get()) {}

  // [loop] One provider attempt's usage and cost; `priced` false when its model had no price.
  void add(std::string_view route, std::string_view provider, std::string_view model, std::string_view tenant,
           const Usage& usage, double cost_usd, bool priced);

  // [any] Adds this meter's series into `merged` (keyed like add's labels; meters sharing a cap
  // hold at most its label sets and one "_other" model per route, provider and tenant) and the
  // attempts counted under "_other" to `*overflowed`.
  void mergeInto(std::map<std::string, UsageSeries>* merged, uint64_t* overflowed) const;

 private:
  UsageSeries& seriesFor(std::string_view route, std::string_view provider, std::string_view model,
                         std::string_view tenant);

  const std::unique_ptr<UsageSeriesCap> own_cap_;
  UsageSeriesCap* const cap_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, UsageSeries> series_;
  uint64_t overflowed_ = 0;
};

// The Prometheus text of merged series: outrigger_tokens_total{route,provider,model[,tenant],type},
// outrigger_cost_usd_total, outrigger_cost_unpriced_total and outrigger_usage_series_overflow_total.
std::string renderUsageMetrics(const std::map<std::string, UsageSeries>& merged, uint64_t overflowed);

}  // namespace outrigger::cost
