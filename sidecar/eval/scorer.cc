#include "eval/scorer.h"

#include <cmath>
#include <functional>

namespace outrigger::eval {

Score Scorer::verdict(bool pass, double score, std::string reason) const {
  // A score that is no number (a plugin's 0/0, a zero vector's cosine) cannot be written to the
  // results JSON, which would then end there: it is the scorer failing to run.
  if (!std::isfinite(score)) return failedToRun("the score is not a finite number (" + std::to_string(score) + ")");
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
  // Each family returns nullptr for a type that is not its own, and sets `error` for a bad
  // setting of one that is.
  const std::function<std::unique_ptr<Scorer>()> families[] = {
      [&] { return makeTextScorer(config, error); },
      [&] { return makeJsonScorer(config, error); },
      [&] { return makeBudgetScorer(config, error); },
      [&] { return makeJudgeScorer(config, services, error); },
      [&] { return makeEmbeddingScorer(config, services, error); },
      [&] { return makeCommandScorer(config, error); },
      [&] { return makePluginScorer(config, error); },
  };
  for (const auto& make : families) {
    if (auto scorer = make()) return scorer;
    if (!error->empty()) return nullptr;
  }
  *error = "unknown scorer type '" + config.type + "'";
  return nullptr;
}

}  // namespace outrigger::eval
