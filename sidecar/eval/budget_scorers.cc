// latency and cost: ceilings on what the case's request took.
#include <cstdio>

#include "eval/scorer.h"

namespace outrigger::eval {

namespace {

std::string format(const char* fmt, double a, double b) {
  char buf[96];
  std::snprintf(buf, sizeof buf, fmt, a, b);
  return buf;
}

class CeilingScorer : public Scorer {
 public:
  CeilingScorer(const ScorerConfig& cfg, bool latency) : Scorer(cfg), latency_(latency) {}
  Score score(const EvalCase&, const CaseOutput& out) const override {
    double value = latency_ ? out.latency_ms : out.cost_usd;
    double ceiling = latency_ ? config_.max_ms : config_.max_usd;
    bool pass = value <= ceiling;
    // The score falls from 1 at zero to 0 at twice the ceiling, so reports show how close it was.
    double score = ceiling <= 0 ? (pass ? 1 : 0) : std::max(0.0, std::min(1.0, 1.0 - value / (2 * ceiling)));
    return verdict(pass, score, latency_ ? format("%.0f ms (ceiling %.0f ms)", value, ceiling)
                                         : format("$%.6f (ceiling $%.6f)", value, ceiling));
  }

 private:
  bool latency_;
};

}  // namespace

std::unique_ptr<Scorer> makeBudgetScorer(const ScorerConfig& cfg, std::string* error) {
  if (cfg.type != "latency" && cfg.type != "cost") return nullptr;
  bool latency = cfg.type == "latency";
  if ((latency && cfg.max_ms <= 0) || (!latency && cfg.max_usd < 0)) {
    *error = "scorer " + cfg.name + ": " + (latency ? "max_ms must be above 0" : "max_usd must not be negative");
    return nullptr;
  }
  return std::make_unique<CeilingScorer>(cfg, latency);
}

}  // namespace outrigger::eval
