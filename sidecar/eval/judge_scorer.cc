// judge: an LLM grades the answer against `rubric` through the judge route.
#include "eval/judge.h"
#include "eval/scorer.h"

namespace outrigger::eval {

namespace {

class JudgeScorer : public Scorer {
 public:
  JudgeScorer(const ScorerConfig& cfg, const ScorerServices& services)
      : Scorer(cfg), judge_(services.client, services.judge_cache, cfg.route, cfg.rubric,
                            cfg.threshold < 0 ? 0.5 : cfg.threshold, services.timeout_ms) {}
  Score score(const EvalCase& c, const CaseOutput& out) const override {
    std::string error;
    auto answer = judge_.grade(conversationText(c.messages), out.content, &error);
    if (!answer) return failedToRun(error);
    return verdict(answer->pass, answer->score, answer->reason);
  }

 private:
  Judge judge_;
};

}  // namespace

std::unique_ptr<Scorer> makeJudgeScorer(const ScorerConfig& cfg, const ScorerServices& services, std::string* error) {
  if (cfg.type != "judge") return nullptr;
  if (cfg.route.empty() || cfg.rubric.empty()) {
    *error = "scorer " + cfg.name + ": a judge needs a route and a rubric";
    return nullptr;
  }
  return std::make_unique<JudgeScorer>(cfg, services);
}

}  // namespace outrigger::eval
