#include "eval/scorer.h"

namespace outrigger::eval {

Score Scorer::verdict(bool pass, double score, std::string reason) const {
  Score s;
  s.scorer = config_.name;
  s.pass = pass;
  s.score = score;
  s.reason = std::move(reason);
  s.gating = config_.gate;
  return s;
}

Score Scorer::failedToRun(std::string error) const {
  Score s = verdict(false, 0, "");
  s.error = std::move(error);
  return s;
}

std::unique_ptr<Scorer> makeScorer(const ScorerConfig& config, const ScorerServices& services, std::string* error) {
  std::unique_ptr<Scorer> s;
  if (!(s = makeTextScorer(config, error)) && error->empty() && !(s = makeJsonScorer(config, error)) && error->empty() &&
      !(s = makeBudgetScorer(config, error)) && error->empty() && !(s = makeJudgeScorer(config, services, error)) &&
      error->empty() && !(s = makeEmbeddingScorer(config, services, error)) && error->empty() &&
      !(s = makeCommandScorer(config, error)) && error->empty()) {
    *error = "unknown scorer type '" + config.type + "'";
  }
  return s;
}

}  // namespace outrigger::eval
