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
// seed makes the gate's decision reproducible.
BootstrapInterval pairedBootstrap(const std::vector<uint8_t>& baseline, const std::vector<uint8_t>& candidate,
                                  uint32_t resamples = 10000, uint64_t seed = 20261203);

}  // namespace outrigger::eval
