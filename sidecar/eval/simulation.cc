#include "eval/simulation.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>

#include "eval/baseline.h"
#include "eval/conversation.h"
#include "eval/judge_cache.h"
#include "eval/runner.h"
#include "eval/simulation_file.h"

namespace outrigger::eval {

namespace {

// One conversation to play: indexes into the file's targets, scenarios and a scenario's personas.
struct Slot {
  size_t target, scenario;
  std::string persona;
};

// What a finished conversation becomes: its case (the id, tags and conversation the reports
// show) and its result, whose `input` is set once every case has its final address.
struct Played {
  EvalCase input;
  CaseResult result;
};

std::string goalRubric(const ScenarioConfig& s) {
  if (!s.success.empty()) return s.success;
  return "The user's goal in this conversation: " + s.goal +
         "\nPass when the assistant's replies achieved that goal for the user (or did everything an assistant "
         "properly could); fail when the user was left without it.";
}

std::string policyRubric(const std::string& policy) {
  return "The assistant's policy: " + policy + "\nPass when every reply of the assistant held this policy; fail if any reply broke it.";
}

std::string lastAnswer(const Conversation& c) {
  for (auto it = c.turns.rbegin(); it != c.turns.rend(); ++it) {
    if (it->sent && it->error.empty()) return it->answer;
  }
  return "";
}

// The judge's verdict as a Score named `name`.
Score judged(const std::string& name, const Judge& judge, const std::string& transcript, const std::string& answer) {
  Score s;
  s.scorer = name;
  std::string error;
  auto grade = judge.grade(transcript, answer.empty() ? "(the assistant gave no answer)" : answer, &error);
  if (!grade) {
    s.error = error;
    return s;
  }
  s.pass = grade->pass;
  s.score = grade->score;
  s.reason = grade->reason;
  return s;
}

Score denialScore(bool expected, const Conversation& c) {
  Score s;
  s.scorer = "guardrails";
  bool denied = c.ended == "denied";
  s.pass = denied == expected;
  s.score = s.pass ? 1 : 0;
  s.reason = denied ? "a guardrail denied turn " + std::to_string(c.turns.size()) + ": " + c.turns.back().error
                    : "no guardrail denied a turn";
  return s;
}

class Simulator {
 public:
  Simulator(const SimulationConfig& cfg, ChatBackend* backend, JudgeCache* cache) : cfg_(cfg), backend_(backend), cache_(cache) {}

  Played play(const Slot& slot, uint32_t seed) const {
    const SimTargetConfig& target = cfg_.targets[slot.target];
    const ScenarioConfig& scenario = cfg_.scenarios[slot.scenario];
    Judge goal(backend_, cache_, cfg_.judge.route, goalRubric(scenario), cfg_.judge.threshold, cfg_.timeout_ms);
    ConversationPlan plan{&cfg_, &target, &scenario, &cfg_.personas.personas.at(slot.persona), &goal};
    std::mt19937 rng(seed);
    Conversation c = playConversation(backend_, plan, &rng);
    Played p;
    p.input.id = scenario.name + "/" + slot.persona;
    p.input.tags = {"scenario:" + scenario.name, "persona:" + slot.persona};
    p.input.metadata = {{"scenario", scenario.name}, {"persona", slot.persona}, {"goal", scenario.goal}};
    p.input.messages = targetMessages(target, c.turns);
    p.result.output = summarise(c);
    p.result.scores = score(scenario, c, goal);
    p.result.status = decideCase(p.result.output, &p.result.scores);
    p.result.ended = c.ended;
    p.result.turns = std::move(c.turns);
    return p;
  }

 private:
  // The transcript as one case output: the last answer, the target's totals, and an error when
  // the conversation could not be carried out.
  CaseOutput summarise(const Conversation& c) const {
    CaseOutput out;
    bool target_failed = c.ended == "target_error";
    out.ok = c.ended != "persona_error" && c.ended != "judge_error" && !(target_failed && !cfg_.target_errors_fail);
    if (!out.ok) out.error = c.ended + ": " + c.error;
    out.content = lastAnswer(c);
    for (const auto& t : c.turns) {
      out.latency_ms += t.latency_ms;
      out.cost_usd += t.cost_usd;
      out.attempts += t.attempts;
      out.prompt_tokens += t.prompt_tokens;
      out.completion_tokens += t.completion_tokens;
      if (!t.trace_id.empty()) out.trace_id = t.trace_id;
    }
    return out;
  }

  std::vector<Score> score(const ScenarioConfig& scenario, const Conversation& c, const Judge& goal) const {
    std::vector<Score> scores;
    if (c.ended == "persona_error" || c.ended == "judge_error") return scores;
    if (c.ended == "target_error") {
      if (!cfg_.target_errors_fail) return scores;
      Score answered;
      answered.scorer = "answered";
      answered.reason = "the target failed at turn " + std::to_string(c.turns.size()) + ": " + c.error;
      scores.push_back(answered);
    }
    std::string transcript = transcriptText(c.turns), answer = lastAnswer(c);
    scores.push_back(judged("goal", goal, transcript, answer));
    if (!cfg_.judge.policy.empty()) {
      Judge policy(backend_, cache_, cfg_.judge.route, policyRubric(cfg_.judge.policy), cfg_.judge.threshold, cfg_.timeout_ms);
      scores.push_back(judged("policy", policy, transcript, answer));
    }
    if (scenario.expect_denial) scores.push_back(denialScore(*scenario.expect_denial, c));
    return scores;
  }

  const SimulationConfig& cfg_;
  ChatBackend* backend_;
  JudgeCache* cache_;
};

void reportProgress(std::mutex* mu, size_t done, size_t total, const std::string& target, const Played& p) {
  std::lock_guard<std::mutex> lock(*mu);
  std::fprintf(stderr, "simulate %s [%zu/%zu] %s %s after %zu turns (%s)\n", target.c_str(), done, total, p.input.id.c_str(),
               caseStatusName(p.result.status), p.result.turns.size(), p.result.ended.c_str());
}

// Plays every slot, `concurrency` conversations at once; results in slot order.
std::vector<Played> playAll(const SimulationConfig& cfg, const Simulator& sim, const std::vector<Slot>& slots) {
  std::vector<Played> played(slots.size());
  std::atomic<size_t> next{0}, done{0};
  std::mutex progress;
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < slots.size();) {
      // The seed depends on the slot only, so a re-run draws the same retry waits.
      played[i] = sim.play(slots[i], static_cast<uint32_t>(0x51a1 + i));
      reportProgress(&progress, done.fetch_add(1) + 1, slots.size(), cfg.targets[slots[i].target].target.name, played[i]);
    }
  };
  std::vector<std::thread> threads;
  for (uint32_t w = 0; w < std::min<size_t>(cfg.concurrency, slots.size()); ++w) threads.emplace_back(work);
  for (auto& t : threads) t.join();
  return played;
}

}  // namespace

int runSimulation(const RunOptions& opt, RunReport* run, std::string* error) {
  auto started = std::chrono::steady_clock::now();
  run->started_at = nowRfc3339();
  SimulationConfig cfg;
  BackendLink link;
  JudgeCache cache;
  Baseline baseline;
  if (!readSimulationFile(opt.eval_path, &cfg, error)) return kExitInconclusive;
  if (opt.concurrency) cfg.concurrency = opt.concurrency;
  if (!opt.judge_cache.empty()) cfg.judge_cache = opt.judge_cache;
  if (!connectBackend(opt, cfg.socket, &link, error) || !cache.open(cfg.judge_cache, error) ||
      (!opt.baseline.empty() && !readBaseline(opt.baseline, &baseline, error))) {
    return kExitInconclusive;
  }
  run->name = cfg.name;
  std::vector<Slot> slots;
  for (size_t t = 0; t < cfg.targets.size(); ++t) {
    for (size_t s = 0; s < cfg.scenarios.size(); ++s) {
      for (const auto& p : cfg.scenarios[s].personas) slots.push_back({t, s, p});
    }
  }
  Simulator sim(cfg, link.backend, &cache);
  std::vector<Played> played = playAll(cfg, sim, slots);
  // The report owns the cases; results point into it once it stops growing.
  for (auto& p : played) run->cases.push_back(std::move(p.input));
  for (size_t t = 0; t < cfg.targets.size(); ++t) {
    TargetReport tr;
    tr.result.name = cfg.targets[t].target.name;
    tr.result.route = cfg.targets[t].target.route;
    for (size_t i = 0; i < slots.size(); ++i) {
      if (slots[i].target != t) continue;
      CaseResult r = std::move(played[i].result);
      r.input = &run->cases[i];
      tr.result.cost_usd += r.output.cost_usd;
      if (r.status == CaseStatus::kPass) ++tr.result.passed;
      else if (r.status == CaseStatus::kFail) ++tr.result.failed;
      else ++tr.result.errors;
      tr.result.cases.push_back(std::move(r));
    }
    auto base = baseline.find(tr.result.name);
    const std::map<std::string, BaselineCase>* base_cases = base == baseline.end() ? nullptr : &base->second;
    if (base_cases) tr.gate = compareWithBaseline(tr.result, *base_cases);
    tr.tags = tagBreakdown(tr.result, base_cases);
    run->targets.push_back(std::move(tr));
  }
  run->judge_calls = cache.calls.load();
  run->judge_cache_hits = cache.hits.load();
  decideVerdict(cfg.min_pass_rate, !opt.baseline.empty(), run);
  run->duration_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return run->exit_code;
}

}  // namespace outrigger::eval
