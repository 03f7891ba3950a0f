#include "traces/statistics.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace outrigger::traces {
namespace {

constexpr double kZ = 1.959963984540054;  // the normal quantile for 95%
constexpr int kResamples = 2000;

// The 2.5th and 97.5th percentiles of resampled statistics.
Interval percentiles(std::vector<double>& stats) {
  if (stats.empty()) return {};
  std::sort(stats.begin(), stats.end());
  auto at = [&](double p) { return stats[std::min(stats.size() - 1, size_t(p * double(stats.size())))]; };
  return {at(0.025), at(0.975)};
}

double resampledMean(const std::vector<double>& v, std::mt19937_64& rng) {
  std::uniform_int_distribution<size_t> pick(0, v.size() - 1);
  double s = 0;
  for (size_t i = 0; i < v.size(); ++i) s += v[pick(rng)];
  return s / double(v.size());
}

}  // namespace

Interval wilson(uint64_t successes, uint64_t n) {
  if (n == 0) return {0, 1};
  double p = double(successes) / double(n), z2 = kZ * kZ, nn = double(n);
  double center = (p + z2 / (2 * nn)) / (1 + z2 / nn);
  double half = kZ * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn)) / (1 + z2 / nn);
  return {std::max(0.0, center - half), std::min(1.0, center + half)};
}

Interval newcombe(uint64_t s1, uint64_t n1, uint64_t s0, uint64_t n0) {
  double p1 = double(s1) / double(n1), p0 = double(s0) / double(n0);
  Interval w1 = wilson(s1, n1), w0 = wilson(s0, n0);
  double d = p1 - p0;
  return {d - std::sqrt((p1 - w1.low) * (p1 - w1.low) + (w0.high - p0) * (w0.high - p0)),
          d + std::sqrt((w1.high - p1) * (w1.high - p1) + (p0 - w0.low) * (p0 - w0.low))};
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / double(v.size());
}

Estimate bootstrapMean(const std::vector<double>& v) {
  Estimate e{mean(v), {}, v.size()};
  if (v.size() < 2) return e;
  std::mt19937_64 rng(1);
  std::vector<double> stats;
  for (int i = 0; i < kResamples; ++i) stats.push_back(resampledMean(v, rng));
  e.ci = percentiles(stats);
  return e;
}

Difference bootstrapDifference(const std::vector<double>& sample, const std::vector<double>& base) {
  Difference d{mean(sample) - mean(base), {}, false};
  if (sample.size() < 2 || base.size() < 2) return d;
  std::mt19937_64 rng(2);
  std::vector<double> stats;
  for (int i = 0; i < kResamples; ++i) stats.push_back(resampledMean(sample, rng) - resampledMean(base, rng));
  d.ci = percentiles(stats);
  d.significant = d.ci.low > 0 || d.ci.high < 0;
  return d;
}

Difference proportionDifference(uint64_t s1, uint64_t n1, uint64_t s0, uint64_t n0) {
  Difference d;
  if (n1 == 0 || n0 == 0) return d;
  d.value = double(s1) / double(n1) - double(s0) / double(n0);
  d.ci = newcombe(s1, n1, s0, n0);
  d.significant = d.ci.low > 0 || d.ci.high < 0;
  return d;
}

double populationStability(std::vector<double> baseline, const std::vector<double>& current, int bins) {
  if (baseline.empty() || current.empty() || bins < 2) return 0;
  std::sort(baseline.begin(), baseline.end());
  // Upper edges at the deciles; a bin holds (previous edge, edge], the last one everything above.
  std::vector<double> edges;
  for (int i = 1; i < bins; ++i) {
    double edge = baseline[std::min(baseline.size() - 1, size_t(double(i) * double(baseline.size()) / bins))];
    if (edges.empty() || edge > edges.back()) edges.push_back(edge);
  }
  if (edges.empty() || edges.back() < baseline.back()) edges.push_back(baseline.back());
  auto binOf = [&](double x) { return size_t(std::lower_bound(edges.begin(), edges.end(), x) - edges.begin()); };
  std::vector<double> b(edges.size() + 1, 0.5), c(edges.size() + 1, 0.5);
  for (double x : baseline) b[binOf(x)] += 1;
  for (double x : current) c[binOf(x)] += 1;
  double bn = double(baseline.size()) + 0.5 * double(b.size()), cn = double(current.size()) + 0.5 * double(c.size());
  double psi = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    double pb = b[i] / bn, pc = c[i] / cn;
    psi += (pc - pb) * std::log(pc / pb);
  }
  return psi;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  size_t mid = (v.size() - 1) / 2;
  std::nth_element(v.begin(), v.begin() + long(mid), v.end());
  return v[mid];
}

}  // namespace outrigger::traces
