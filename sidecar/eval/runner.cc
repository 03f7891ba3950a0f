#include "eval/runner.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>

#include "bounded_json.h"
#include "eval/json_text.h"
#include "eval/retrying_call.h"

namespace outrigger::eval {

namespace {

// The progress display; report() is called once per finished case, from any runner thread.
class Progress {
 public:
  Progress(std::string target, size_t total) : target_(std::move(target)), total_(total), tty_(::isatty(2) == 1) {}
  ~Progress() {
    if (tty_) std::fprintf(stderr, "\n");
  }
  void report(const CaseResult& r) {
    std::lock_guard<std::mutex> lock(mu_);
    ++done_;
    if (r.status == CaseStatus::kFail) ++failed_;
    if (r.status == CaseStatus::kError) ++errors_;
    if (!tty_) {
      std::fprintf(stderr, "eval %s [%zu/%zu] %s %s (%.0f ms)\n", target_.c_str(), done_, total_, r.input->id.c_str(),
                   caseStatusName(r.status), r.output.latency_ms);
      return;
    }
    constexpr size_t kWidth = 30;
    size_t filled = total_ ? done_ * kWidth / total_ : kWidth;
    std::string bar(filled, '#');
    bar.append(kWidth - filled, '.');
    std::fprintf(stderr, "\r%s [%s] %zu/%zu  %zu failed  %zu errors", target_.c_str(), bar.c_str(), done_, total_, failed_,
                 errors_);
    std::fflush(stderr);
  }

 private:
  std::mutex mu_;
  std::string target_;
  size_t total_, done_ = 0, failed_ = 0, errors_ = 0;
  bool tty_;
};

void mergeObject(const std::string& text, rapidjson::Document* into) {
  rapidjson::Document part;
  if (text.empty() || !json::parse(text, &part) || !part.IsObject()) return;
  auto& a = into->GetAllocator();
  for (auto& m : part.GetObject()) {
    rapidjson::Value key(m.name, a), value(m.value, a);
    into->RemoveMember(key);
    into->AddMember(key, value, a);
  }
}

void addMember(const char* key, const std::string& text, rapidjson::Document* into) {
  rapidjson::Document value;
  if (text.empty() || !json::parse(text, &value)) return;
  auto& a = into->GetAllocator();
  into->RemoveMember(key);
  into->AddMember(rapidjson::Value(key, a), rapidjson::Value(value, a), a);
}

// A scorer limited to some tags scores only the cases that carry one of them.
bool applies(const ScorerConfig& s, const EvalCase& c) {
  if (s.tags.empty()) return true;
  for (const auto& t : c.tags) {
    if (std::find(s.tags.begin(), s.tags.end(), t) != s.tags.end()) return true;
  }
  return false;
}

CaseOutput ask(ChatBackend* client, const EvalConfig& cfg, const TargetConfig& target, const EvalCase& c,
               std::mt19937* rng) {
  client::ChatRequest req;
  req.model = target.route;
  req.messages = c.messages;
  req.extra_json = requestExtraJson(target, c);
  req.timeout = std::chrono::milliseconds(cfg.timeout_ms);
  CallOutcome call = callWithRetries(client, req, {c.tools_json, c.response_format_json}, {cfg.retries, cfg.retry_backoff_ms}, rng);
  CaseOutput out;
  out.latency_ms = call.latency_ms;
  out.attempts = call.attempts;
  if (!call.result.ok()) {
    // The trace id finds the failed request in the store (`outrigger traces show`).
    const client::Error& e = call.result.error();
    out.error = e.toString();
    out.error_code = client::statusName(e.code);
    out.trace_id = e.trace_id;
    return out;
  }
  const auto& v = call.result.value();
  out.ok = true;
  out.content = v.content;
  out.tool_calls = v.tool_calls;
  out.cost_usd = v.cost_usd;
  out.prompt_tokens = v.usage.prompt_tokens;
  out.completion_tokens = v.usage.completion_tokens;
  out.trace_id = v.trace_id;
  return out;
}

}  // namespace

std::string requestExtraJson(const TargetConfig& target, const EvalCase& c) {
  rapidjson::Document doc(rapidjson::kObjectType);
  mergeObject(target.extra_json, &doc);
  mergeObject(c.extra_json, &doc);
  addMember("tools", c.tools_json, &doc);
  addMember("response_format", c.response_format_json, &doc);
  return doc.MemberCount() == 0 ? "" : toJson(doc);
}

CaseStatus decideCase(const CaseOutput& out, std::vector<Score>* scores) {
  if (!out.ok) return CaseStatus::kError;
  if (scores->empty()) {
    Score none;
    none.scorer = "(none)";
    none.error = "no scorer applies to this case (its tags match none of the tagged scorers)";
    scores->push_back(std::move(none));
    return CaseStatus::kError;
  }
  bool pass = true;
  for (const auto& s : *scores) {
    if (!s.gating) continue;
    if (!s.error.empty()) return CaseStatus::kError;
    pass = pass && s.pass;
  }
  return pass ? CaseStatus::kPass : CaseStatus::kFail;
}

TargetResult runTarget(ChatBackend* client, const EvalConfig& cfg, const TargetConfig& target,
                       const std::vector<EvalCase>& cases, const ScorerList& scorers) {
  TargetResult result;
  result.name = target.name;
  result.route = target.route;
  result.cases.resize(cases.size());
  Progress progress(target.name, cases.size());
  std::atomic<size_t> next{0};
  auto work = [&](uint32_t worker) {
    std::mt19937 rng(0x5eed + worker);
    for (size_t i; (i = next.fetch_add(1)) < cases.size();) {
      CaseResult& r = result.cases[i];
      r.input = &cases[i];
      r.output = ask(client, cfg, target, cases[i], &rng);
      if (r.output.ok) {
        for (const auto& s : scorers) {
          if (applies(s->config(), cases[i])) r.scores.push_back(s->score(cases[i], r.output));
        }
      }
      r.status = decideCase(r.output, &r.scores);
      progress.report(r);
    }
  };
  std::vector<std::thread> threads;
  uint32_t n = std::min<uint32_t>(cfg.concurrency, static_cast<uint32_t>(cases.size()));
  for (uint32_t w = 0; w < n; ++w) threads.emplace_back(work, w);
  for (auto& t : threads) t.join();
  for (const auto& r : result.cases) {
    result.cost_usd += r.output.cost_usd;
    if (r.status == CaseStatus::kPass) ++result.passed;
    else if (r.status == CaseStatus::kFail) ++result.failed;
    else ++result.errors;
  }
  return result;
}

}  // namespace outrigger::eval
