#include "cli/sampled_judge.h"

#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>

#include "common/file_text.h"
#include "eval/chat_backend.h"
#include "eval/judge.h"
#include "eval/judge_cache.h"
#include "traces/statistics.h"

namespace outrigger::cli {
namespace {

// The judge's calls, refused once their answers have cost the budget, and spaced to a rate.
class MeteredBackend : public eval::ChatBackend {
 public:
  MeteredBackend(eval::ChatBackend* inner, double budget_usd, double per_second)
      : inner_(inner), budget_usd_(budget_usd),
        gap_(per_second > 0 ? std::chrono::microseconds(int64_t(1e6 / per_second)) : std::chrono::microseconds(0)) {}

  client::Result<client::Response> chat(const client::ChatRequest& request, const eval::CaseParams& params) override {
    if (spent_usd >= budget_usd_) {
      ++over_budget;
      client::Error e;
      e.code = client::StatusCode::kResourceExhausted;
      e.message = "the judge budget is spent";
      return e;
    }
    std::this_thread::sleep_until(next_);
    next_ = std::chrono::steady_clock::now() + gap_;
    auto r = inner_->chat(request, params);
    if (r.ok()) spent_usd += r.value().cost_usd;
    return r;
  }

  double spent_usd = 0;
  uint32_t over_budget = 0;

 private:
  eval::ChatBackend* inner_;
  double budget_usd_;
  std::chrono::microseconds gap_;
  std::chrono::steady_clock::time_point next_ = std::chrono::steady_clock::now();
};

// At most `limit` items with a prompt and an answer, spread evenly.
std::vector<JudgeItem> sampleOf(const std::vector<JudgeItem>& group, uint32_t limit) {
  std::vector<JudgeItem> all;
  for (const JudgeItem& x : group) {
    if (!x.answer->empty() && !x.prompt_text->empty()) all.push_back(x);
  }
  return traces::spreadEvenly(all, limit);
}

}  // namespace

bool sampledJudgingOf(const Options& opt, const char* command, SampledJudging* j) {
  j->socket = opt.socket_path;
  j->route = opt.judge_route;
  j->rubric = opt.judge_rubric;
  if (!opt.judge_rubric_file.empty() && !readFileText(opt.judge_rubric_file, &j->rubric)) {
    std::fprintf(stderr, "outrigger %s: cannot read %s\n", command, opt.judge_rubric_file.c_str());
    return false;
  }
  if (j->rubric.empty()) {
    std::fprintf(stderr, "outrigger %s: --judge-route needs --judge-rubric or --judge-rubric-file\n", command);
    return false;
  }
  j->cache_path = opt.judge_cache.empty() ? ".outrigger-judge-cache.sqlite" : opt.judge_cache;
  j->sample = opt.judge_sample;
  j->per_second = opt.judge_per_second;
  j->budget_usd = opt.judge_budget_usd;
  return true;
}

std::vector<std::string> judgeSamples(const SampledJudging& judging, const std::vector<std::vector<JudgeItem>>& groups,
                                      JudgingTally* tally) {
  std::vector<std::string> notes;
  eval::JudgeCache cache;
  std::string error;
  if (!cache.open(judging.cache_path, &error)) {
    notes.push_back("judge scores not compared: " + error);
    return notes;
  }
  client::Client::Options co;
  co.socket_path = judging.socket;
  client::Client client(co);
  eval::SocketBackend socket(&client);
  MeteredBackend metered(&socket, judging.budget_usd, judging.per_second);
  eval::Judge judge(&metered, &cache, judging.route, judging.rubric, 0.5, judging.timeout_ms);
  std::string last_error;
  for (const std::vector<JudgeItem>& group : groups) {
    for (const JudgeItem& x : sampleOf(group, judging.sample)) {
      uint64_t hits = cache.hits.load();
      auto grade = judge.grade(*x.prompt_text, *x.answer, &error);
      if (grade) {
        *x.score = grade->score;
        ++(cache.hits.load() > hits ? tally->cached : tally->graded);
      } else if (metered.over_budget == 0) {
        ++tally->failed;
        last_error = error;
      }
    }
  }
  tally->spent_usd = metered.spent_usd;
  tally->over_budget = metered.over_budget;
  char summary[160];
  std::snprintf(summary, sizeof summary, "judge route %s: %u answers graded, %u from the cache, $%.6f spent", judging.route.c_str(),
                tally->graded, tally->cached, tally->spent_usd);
  notes.push_back(summary);
  if (tally->over_budget) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "the judge budget of $%.4f was spent: %u sampled answers were not graded",
                  judging.budget_usd, tally->over_budget);
    notes.push_back(buf);
  }
  if (tally->failed) notes.push_back(std::to_string(tally->failed) + " answers could not be graded: " + last_error);
  return notes;
}

}  // namespace outrigger::cli
