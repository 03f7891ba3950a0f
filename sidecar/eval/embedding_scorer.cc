// embedding: cosine similarity of the answer and the expected text, embedded by `route`.
#include <cstdio>

#include "eval/embedding_client.h"
#include "eval/scorer.h"

namespace outrigger::eval {

namespace {

class EmbeddingScorer : public Scorer {
 public:
  EmbeddingScorer(const ScorerConfig& cfg, const EmbeddingClient* client) : Scorer(cfg), client_(client) {}
  Score score(const EvalCase& c, const CaseOutput& out) const override {
    std::string want = config_.value.empty() ? c.expected : config_.value;
    if (want.empty()) return failedToRun("nothing to compare with: no value and no expected in the case");
    std::string error;
    auto vectors = client_->embed(config_.route, {out.content, want}, &error);
    if (!vectors) return failedToRun(error);
    double similarity = cosineSimilarity((*vectors)[0], (*vectors)[1]);
    double threshold = config_.threshold < 0 ? 0.8 : config_.threshold;
    char reason[96];
    std::snprintf(reason, sizeof reason, "cosine similarity %.3f (threshold %.2f)", similarity, threshold);
    return verdict(similarity >= threshold, similarity, reason);
  }

 private:
  const EmbeddingClient* client_;
};

}  // namespace

std::unique_ptr<Scorer> makeEmbeddingScorer(const ScorerConfig& cfg, const ScorerServices& services, std::string* error) {
  if (cfg.type != "embedding") return nullptr;
  if (cfg.route.empty() || !services.embeddings) {
    *error = "scorer " + cfg.name + ": an embedding scorer needs a route and the eval file's embeddings_url";
    return nullptr;
  }
  return std::make_unique<EmbeddingScorer>(cfg, services.embeddings);
}

}  // namespace outrigger::eval
