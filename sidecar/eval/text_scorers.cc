// exact, contains, regex and levenshtein: the answer's text against the expected text.
#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <vector>

#include "eval/scorer.h"

namespace outrigger::eval {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// What the answer is compared with: the scorer's `value`, else the case's `expected`.
std::string reference(const ScorerConfig& cfg, const EvalCase& c) { return cfg.value.empty() ? c.expected : cfg.value; }

class ExactScorer : public Scorer {
 public:
  using Scorer::Scorer;
  Score score(const EvalCase& c, const CaseOutput& out) const override {
    std::string want = reference(config_, c), got = out.content;
    // As for contains: with nothing to compare, an empty answer would pass.
    if (want.empty()) return failedToRun("nothing to compare with: no value and no expected in the case");
    if (config_.ignore_case) want = lower(want), got = lower(got);
    bool pass = got == want;
    return verdict(pass, pass ? 1 : 0, pass ? "equal" : "expected \"" + want + "\"");
  }
};

class ContainsScorer : public Scorer {
 public:
  using Scorer::Scorer;
  Score score(const EvalCase& c, const CaseOutput& out) const override {
    std::string want = reference(config_, c), got = out.content;
    if (want.empty()) return failedToRun("nothing to look for: no value and no expected in the case");
    if (config_.ignore_case) want = lower(want), got = lower(got);
    bool pass = got.find(want) != std::string::npos;
    return verdict(pass, pass ? 1 : 0, (pass ? "contains \"" : "does not contain \"") + want + "\"");
  }
};

class RegexScorer : public Scorer {
 public:
  RegexScorer(const ScorerConfig& cfg, RE2::Options opts) : Scorer(cfg), re_(cfg.pattern, opts) {}
  bool ok() const { return re_.ok(); }
  std::string error() const { return re_.error(); }
  Score score(const EvalCase&, const CaseOutput& out) const override {
    bool pass = RE2::PartialMatch(out.content, re_);
    return verdict(pass, pass ? 1 : 0, (pass ? "matches /" : "does not match /") + config_.pattern + "/");
  }

 private:
  RE2 re_;
};

class LevenshteinScorer : public Scorer {
 public:
  using Scorer::Scorer;
  Score score(const EvalCase& c, const CaseOutput& out) const override {
    std::string want = reference(config_, c);
    // As for exact: with nothing to compare, an empty answer would pass and any other fail.
    if (want.empty()) return failedToRun("nothing to compare with: no value and no expected in the case");
    size_t longer = std::max(want.size(), out.content.size());
    double similarity = longer == 0 ? 1.0 : 1.0 - static_cast<double>(levenshtein(want, out.content)) / longer;
    double threshold = config_.threshold < 0 ? 0.8 : config_.threshold;
    return verdict(similarity >= threshold, similarity,
                   "similarity " + std::to_string(similarity).substr(0, 5) + " (threshold " +
                       std::to_string(threshold).substr(0, 4) + ")");
  }
};

}  // namespace

size_t levenshtein(const std::string& a, const std::string& b) {
  const std::string& s = a.size() < b.size() ? a : b;  // the row is as long as the shorter text
  const std::string& t = a.size() < b.size() ? b : a;
  std::vector<size_t> row(s.size() + 1);
  for (size_t i = 0; i <= s.size(); ++i) row[i] = i;
  for (size_t j = 1; j <= t.size(); ++j) {
    size_t diagonal = row[0];
    row[0] = j;
    for (size_t i = 1; i <= s.size(); ++i) {
      size_t above = row[i];
      row[i] = std::min({row[i] + 1, row[i - 1] + 1, diagonal + (s[i - 1] == t[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[s.size()];
}

std::unique_ptr<Scorer> makeTextScorer(const ScorerConfig& cfg, std::string* error) {
  if (cfg.type == "exact") return std::make_unique<ExactScorer>(cfg);
  if (cfg.type == "contains") return std::make_unique<ContainsScorer>(cfg);
  if (cfg.type == "levenshtein") return std::make_unique<LevenshteinScorer>(cfg);
  if (cfg.type != "regex") return nullptr;
  RE2::Options opts;
  opts.set_case_sensitive(!cfg.ignore_case);
  opts.set_log_errors(false);
  auto s = std::make_unique<RegexScorer>(cfg, opts);
  if (cfg.pattern.empty() || !s->ok()) {
    *error = "scorer " + cfg.name + ": bad or missing pattern: " + s->error();
    return nullptr;
  }
  return s;
}

}  // namespace outrigger::eval
