// Tokens and USD by route, provider instance and model, for /metrics. Each worker keeps its own
// meter (written on its loop, one uncontended lock per provider attempt); a scrape merges them.
// The number of label sets is capped: attempts past the cap are counted under labels "_other"
// and in an overflow counter, so a caller sending a new model name per request cannot grow the
// daemon's memory or the scrape without bound.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

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

class UsageMeter {
 public:
  static constexpr size_t kMaxSeries = 1000;

  explicit UsageMeter(size_t max_series = kMaxSeries) : max_series_(max_series) {}

  // [loop] One provider attempt's usage and cost; `priced` false when its model had no price.
  void add(std::string_view route, std::string_view provider, std::string_view model, std::string_view tenant,
           const Usage& usage, double cost_usd, bool priced);

  // [any] Adds this meter's series into `merged` (keyed like add's labels), keeping at most
  // `max_series` there; the rest go under "_other". Adds the attempts that overflowed to
  // `*overflowed`.
  void mergeInto(std::map<std::string, UsageSeries>* merged, size_t max_series, uint64_t* overflowed) const;

 private:
  UsageSeries& seriesFor(std::string_view route, std::string_view provider, std::string_view model,
                         std::string_view tenant);

  const size_t max_series_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, UsageSeries> series_;
  uint64_t overflowed_ = 0;
};

// The Prometheus text of merged series: outrigger_tokens_total{route,provider,model[,tenant],type},
// outrigger_cost_usd_total, outrigger_cost_unpriced_total and outrigger_usage_series_overflow_total.
std::string renderUsageMetrics(const std::map<std::string, UsageSeries>& merged, uint64_t overflowed);

}  // namespace outrigger::cost
