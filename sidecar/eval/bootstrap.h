// The paired bootstrap behind the regression gate. Cases are resampled with replacement
// (the same draws for both runs, so each case is compared with itself); the 95% interval of
// (candidate - baseline) pass rate is the 2.5th and 97.5th percentile over the resamples.
#pragma once

#include <cstdint>
#include <vector>

namespace outrigger::eval {

struct BootstrapInterval {
  double delta = 0;  // the observed candidate - baseline pass rate
  double low = 0, high = 0;
};

// `baseline[i]` and `candidate[i]` are case i's outcomes (1 pass, 0 not) in each run. A fixed
// seed makes the interval reproducible.
BootstrapInterval pairedBootstrap(const std::vector<uint8_t>& baseline, const std::vector<uint8_t>& candidate,
                                  uint32_t resamples = 10000, uint64_t seed = 20261203);

// The exact McNemar test of the same pairs: of the cases whose outcome changed, `worse` went
// from pass to fail and `better` back; the two-sided p-value of so uneven a split if each change
// were a coin toss (binomial, n = worse + better, p = 1/2). The gate's decision: a bootstrap
// interval is no test when few cases changed (four that all went one way put it below 0 for any
// number of cases, where this gives p = 0.125).
double mcnemarExactP(uint32_t worse, uint32_t better);

}  // namespace outrigger::eval
