#include "eval/bootstrap.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace outrigger::eval {

BootstrapInterval pairedBootstrap(const std::vector<uint8_t>& baseline, const std::vector<uint8_t>& candidate,
                                  uint32_t resamples, uint64_t seed) {
  BootstrapInterval out;
  size_t n = std::min(baseline.size(), candidate.size());
  if (n == 0 || resamples == 0) return out;
  // Per case, the paired difference is -1, 0 or +1; a resample's delta is their mean.
  std::vector<int> diff(n);
  long total = 0;
  for (size_t i = 0; i < n; ++i) total += diff[i] = int(candidate[i]) - int(baseline[i]);
  out.delta = static_cast<double>(total) / n;
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, n - 1);
  std::vector<double> deltas(resamples);
  for (uint32_t r = 0; r < resamples; ++r) {
    long sum = 0;
    for (size_t i = 0; i < n; ++i) sum += diff[pick(rng)];
    deltas[r] = static_cast<double>(sum) / n;
  }
  std::sort(deltas.begin(), deltas.end());
  out.low = deltas[static_cast<size_t>(0.025 * (resamples - 1))];
  out.high = deltas[static_cast<size_t>(0.975 * (resamples - 1))];
  return out;
}

double mcnemarExactP(uint32_t worse, uint32_t better) {
  const uint32_t n = worse + better, k = std::min(worse, better);
  if (n == 0) return 1;
  // 2 * P(X <= k), X ~ Binomial(n, 1/2), summed in logs: n may be a dataset's whole size.
  const double log_half_n = -double(n) * std::log(2.0);
  double tail = 0;
  for (uint32_t i = 0; i <= k; ++i) {
    tail += std::exp(std::lgamma(n + 1.0) - std::lgamma(i + 1.0) - std::lgamma(n - i + 1.0) + log_half_n);
  }
  return std::min(1.0, 2 * tail);
}

}  // namespace outrigger::eval
