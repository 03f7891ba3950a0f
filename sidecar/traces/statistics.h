// Estimates with 95% intervals and distribution shift, shared by the arm comparison and the drift
// report: Wilson's interval for a proportion, Newcombe's for the difference of two, bootstrap
// intervals for means and their differences, and the population stability index.
// The bootstrap uses fixed seeds: the same store gives the same intervals every time it is asked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace outrigger::traces {

struct Interval {
  double low = 0, high = 0;
};

struct Estimate {
  double value = 0;
  Interval ci;
  uint64_t n = 0;  // the samples it is over
};

struct Difference {
  double value = 0;  // this sample minus the baseline
  Interval ci;
  bool significant = false;  // the interval leaves out 0
};

Interval wilson(uint64_t successes, uint64_t n);
Interval newcombe(uint64_t s1, uint64_t n1, uint64_t s0, uint64_t n0);

double mean(const std::vector<double>& v);
Estimate bootstrapMean(const std::vector<double>& v);
Difference bootstrapDifference(const std::vector<double>& sample, const std::vector<double>& base);
Difference proportionDifference(uint64_t s1, uint64_t n1, uint64_t s0, uint64_t n0);

// The population stability index of `current` against `baseline`: sum over bins of
// (c - b) * ln(c / b), with bins cut at the baseline's deciles (ties merged, so a value the
// baseline repeats is one bin) and a half count added to each bin so an empty one stays finite.
// Usual reading: below 0.1 stable, 0.1 to 0.25 a moderate shift, above 0.25 a significant one.
double populationStability(std::vector<double> baseline, const std::vector<double>& current, int bins = 10);

// At most `limit` of `all`, spread evenly over it (all of it when it is no longer): a sample that
// covers a whole window rather than its start.
template <typename T>
std::vector<T> spreadEvenly(const std::vector<T>& all, size_t limit) {
  if (all.size() <= limit) return all;
  std::vector<T> picked;
  picked.reserve(limit);
  for (size_t i = 0; i < limit; ++i) picked.push_back(all[size_t(double(i) * double(all.size()) / double(limit))]);
  return picked;
}

// The median of `v` (nearest rank; 0 when empty).
double median(std::vector<double> v);

}  // namespace outrigger::traces
