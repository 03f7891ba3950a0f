// Scorers: each turns one case's output into a Score (score in 0..1, pass, reason).
//
// | type        | passes when                                               | threshold default |
// | exact       | output == expected (or `value`), ignore_case optional     |                   |
// | contains    | output contains `value` (or expected)                     |                   |
// | regex       | RE2 `pattern` matches somewhere in the output             |                   |
// | json_valid  | the output parses as JSON                                 |                   |
// | json_schema | the output is JSON valid against `schema`/`schema_file`   |                   |
// | tool_call   | tool calls match expected_tool_calls (names, arguments)   |                   |
// | levenshtein | 1 - distance/longer length >= threshold, vs expected      | 0.8               |
// | embedding   | cosine(output, expected) through `route` >= threshold     | 0.8               |
// | latency     | latency_ms <= max_ms                                      |                   |
// | cost        | cost_usd <= max_usd                                       |                   |
// | judge       | the judge route's {score, reason, pass} says pass         | 0.5 (on score)    |
// | command     | the external command's {score, pass, reason} says pass    |                   |
// | plugin      | the scorer plugin's verdict (scorer C ABI) says pass      | the plugin's      |
//
// Thread-safety: score() runs on the runner's threads, many at once; scorers keep no per-call
// state. A scorer that cannot run (a judge that does not answer, a command that crashes) sets
// Score::error: that is a runtime error of the case, not a failure.
#pragma once

#include <memory>
#include <string>

#include "eval/eval_file.h"
#include "eval/eval_types.h"

namespace outrigger::eval {

class ChatBackend;
class JudgeCache;
class EmbeddingClient;

class Scorer {
 public:
  explicit Scorer(ScorerConfig config) : config_(std::move(config)) {}
  virtual ~Scorer() = default;
  const ScorerConfig& config() const { return config_; }
  // Scores `out`, the answer to `c`. Never throws.
  virtual Score score(const EvalCase& c, const CaseOutput& out) const = 0;

 protected:
  // A Score named after this scorer.
  Score verdict(bool pass, double score, std::string reason) const;
  Score failedToRun(std::string error) const;
  ScorerConfig config_;
};

// What model-backed scorers call through.
struct ScorerServices {
  ChatBackend* client = nullptr;
  JudgeCache* judge_cache = nullptr;
  EmbeddingClient* embeddings = nullptr;
  uint32_t timeout_ms = 30000;
};

// The scorer for `config.type`; nullptr with `error` for an unknown type or a bad setting.
std::unique_ptr<Scorer> makeScorer(const ScorerConfig& config, const ScorerServices& services, std::string* error);

// Per family (text_scorers.cc, json_scorers.cc, budget_scorers.cc, judge_scorer.cc,
// embedding_scorer.cc, command_scorer.cc, plugin_scorer.cc); nullptr when `config.type` is not
// theirs.
std::unique_ptr<Scorer> makeTextScorer(const ScorerConfig& config, std::string* error);
std::unique_ptr<Scorer> makeJsonScorer(const ScorerConfig& config, std::string* error);
std::unique_ptr<Scorer> makeBudgetScorer(const ScorerConfig& config, std::string* error);
std::unique_ptr<Scorer> makeJudgeScorer(const ScorerConfig& config, const ScorerServices& services, std::string* error);
std::unique_ptr<Scorer> makeEmbeddingScorer(const ScorerConfig& config, const ScorerServices& services, std::string* error);
std::unique_ptr<Scorer> makeCommandScorer(const ScorerConfig& config, std::string* error);
std::unique_ptr<Scorer> makePluginScorer(const ScorerConfig& config, std::string* error);

// Levenshtein distance in bytes, O(min(a,b)) memory.
size_t levenshtein(const std::string& a, const std::string& b);

}  // namespace outrigger::eval
