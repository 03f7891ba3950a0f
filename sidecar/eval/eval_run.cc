#include "eval/eval_run.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>

#include "eval/baseline.h"
#include "eval/calibration.h"
#include "eval/dataset.h"
#include "eval/embedding_client.h"
#include "eval/eval_file.h"
#include "eval/judge.h"
#include "eval/judge_cache.h"
#include "eval/runner.h"

namespace outrigger::eval {

std::string nowRfc3339() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool connectBackend(const RunOptions& opt, const std::string& file_socket, BackendLink* link, std::string* error) {
  if (opt.backend) {
    link->backend = opt.backend;
    return true;
  }
  client::Client::Options co;
  co.socket_path = opt.socket.empty() ? file_socket : opt.socket;
  co.client_name = "outrigger-eval";
  link->client = std::make_unique<client::Client>(co);
  if (auto e = link->client->connect()) {
    *error = "cannot reach the sidecar: " + e->toString();
    return false;
  }
  link->socket = std::make_unique<SocketBackend>(link->client.get());
  link->backend = link->socket.get();
  return true;
}

namespace {

std::string pct(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", v * 100);
  return buf;
}

// Everything a run or a calibration talks through.
struct Session {
  EvalConfig cfg;
  BackendLink link;
  ChatBackend* backend = nullptr;  // the socket's, or the caller's in-process chain
  JudgeCache cache;
  std::unique_ptr<EmbeddingClient> embeddings;
};

bool openSession(const RunOptions& opt, Session* s, std::string* error) {
  if (!readEvalFile(opt.eval_path, &s->cfg, error)) return false;
  if (opt.concurrency) s->cfg.concurrency = opt.concurrency;
  if (!opt.judge_cache.empty()) s->cfg.judge_cache = opt.judge_cache;
  if (!connectBackend(opt, s->cfg.socket, &s->link, error)) return false;
  s->backend = s->link.backend;
  if (!s->cfg.embeddings_url.empty()) s->embeddings = std::make_unique<EmbeddingClient>(s->cfg.embeddings_url, s->cfg.timeout_ms);
  return s->cache.open(s->cfg.judge_cache, error);
}

Judge judgeFor(Session& s, const ScorerConfig& sc) {
  return Judge(s.backend, &s.cache, sc.route, sc.rubric, sc.threshold < 0 ? 0.5 : sc.threshold, s.cfg.timeout_ms);
}

// A judge gates only when its agreement with human labels reaches min_agreement; otherwise it
// is reported but cannot fail a case, and the run says why.
void decideJudgeGating(Session& s, std::vector<std::string>* notes) {
  for (auto& sc : s.cfg.scorers) {
    if (sc.type != "judge" || !sc.gate) continue;
    if (sc.labels.empty()) {
      sc.gate = false;
      notes->push_back("judge '" + sc.name + "' cannot gate: it has no labelled set to calibrate against (labels)");
      continue;
    }
    Calibration cal = calibrate(judgeFor(s, sc), resolvePath(s.cfg, sc.labels));
    std::string measured = pct(cal.agreement) + " agreement with human labels on " + std::to_string(cal.total - cal.errors) +
                           " items (min_agreement " + pct(sc.min_agreement) + ")";
    if (!cal.error.empty() || cal.errors > 0 || cal.agreement < sc.min_agreement) {
      sc.gate = false;
      notes->push_back("judge '" + sc.name + "' cannot gate: " + (cal.error.empty() ? measured : cal.error) +
                       (cal.errors ? ", " + std::to_string(cal.errors) + " items not judged" : ""));
    } else {
      notes->push_back("judge '" + sc.name + "' gates: " + measured);
    }
  }
}

}  // namespace

void decideVerdict(double min_pass_rate, bool have_baseline, RunReport* run) {
  bool regression = false, below = false;
  uint32_t errors = 0;
  for (const auto& t : run->targets) {
    errors += t.result.errors;
    // Compared with the baseline only when some case pairs with one of its (not when the
    // baseline's cases were all errors, or had other ids): else min_pass_rate decides.
    const bool paired = t.gate.compared && t.gate.paired_cases > 0;
    if (t.gate.compared && !paired) run->notes.push_back("target '" + t.result.name + "': no case pairs with the baseline's");
    if (paired) {
      regression = regression || t.gate.regression;
      run->notes.push_back("target '" + t.result.name + "': " + (t.gate.regression ? "regression, " : "") +
                           std::to_string(t.gate.changes.size()) + " cases changed vs baseline");
    } else if (t.result.passRate() < min_pass_rate) {
      below = true;
      run->notes.push_back("target '" + t.result.name + "': pass rate " + pct(t.result.passRate()) + " is below min_pass_rate " +
                           pct(min_pass_rate) + (have_baseline && !t.gate.compared ? " (the baseline has no such target)" : ""));
    }
  }
  // A drop proven on the cases that could be evaluated stands even when others could not.
  if (regression) run->verdict = "regression", run->exit_code = kExitRegression;
  else if (errors) run->verdict = "inconclusive", run->exit_code = kExitInconclusive;
  else if (below) run->verdict = "fail", run->exit_code = kExitRegression;
  else run->verdict = "pass", run->exit_code = kExitPass;
  if (errors) run->notes.push_back(std::to_string(errors) + " cases could not be evaluated (see their errors)");
}

int runEval(const RunOptions& opt, RunReport* run, std::string* error) {
  auto started = std::chrono::steady_clock::now();
  run->started_at = nowRfc3339();
  Session s;
  std::vector<EvalCase> cases;
  Baseline baseline;
  if (!openSession(opt, &s, error) || !readDataset(resolvePath(s.cfg, s.cfg.dataset), &cases, error) ||
      (!opt.baseline.empty() && !readBaseline(opt.baseline, &baseline, error))) {
    return kExitInconclusive;
  }
  run->name = s.cfg.name;
  decideJudgeGating(s, &run->notes);
  ScorerServices services{s.backend, &s.cache, s.embeddings.get(), s.cfg.timeout_ms};
  ScorerList scorers;
  for (const auto& sc : s.cfg.scorers) {
    auto scorer = makeScorer(sc, services, error);
    if (!scorer) {
      *error = s.cfg.path + ": " + *error;
      return kExitInconclusive;
    }
    scorers.push_back(std::move(scorer));
  }
  for (const auto& target : s.cfg.targets) {
    TargetReport tr;
    tr.result = runTarget(s.backend, s.cfg, target, cases, scorers);
    auto base = baseline.find(target.name);
    const std::map<std::string, BaselineCase>* base_cases = base == baseline.end() ? nullptr : &base->second;
    if (base_cases) tr.gate = compareWithBaseline(tr.result, *base_cases);
    tr.tags = tagBreakdown(tr.result, base_cases);
    run->targets.push_back(std::move(tr));
  }
  // The results point into the dataset; the report owns it from here (a moved vector keeps its
  // elements where they are).
  run->cases = std::move(cases);
  run->judge_calls = s.cache.calls.load();
  run->judge_cache_hits = s.cache.hits.load();
  decideVerdict(s.cfg.min_pass_rate, !opt.baseline.empty(), run);
  run->duration_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return run->exit_code;
}

int calibrateJudges(const RunOptions& opt, const std::string& scorer_name, const std::string& labels_override, std::string* out) {
  Session s;
  std::string error;
  if (!openSession(opt, &s, &error)) {
    *out = "outrigger eval calibrate: " + error + "\n";
    return kExitInconclusive;
  }
  int code = kExitPass, judges = 0;
  for (const auto& sc : s.cfg.scorers) {
    if (sc.type != "judge" || (!scorer_name.empty() && sc.name != scorer_name)) continue;
    ++judges;
    std::string labels = labels_override.empty() ? sc.labels : labels_override;
    if (labels.empty()) {
      *out += "judge " + sc.name + ": no labelled set (labels = ... or --labels)\n";
      code = kExitInconclusive;
      continue;
    }
    Calibration cal = calibrate(judgeFor(s, sc), labels_override.empty() ? resolvePath(s.cfg, labels) : labels);
    if (!cal.error.empty() || cal.errors) {
      *out += "judge " + sc.name + ": " + (cal.error.empty() ? std::to_string(cal.errors) + " items could not be judged" : cal.error) + "\n";
      code = kExitInconclusive;
      continue;
    }
    bool enough = cal.agreement >= sc.min_agreement;
    *out += "judge " + sc.name + ": agreement " + pct(cal.agreement) + " (" + std::to_string(cal.agreed) + "/" +
            std::to_string(cal.total) + ", min_agreement " + pct(sc.min_agreement) + "): " +
            (enough ? "may gate" : "cannot gate CI") + "\n";
    for (const auto& id : cal.disagreements) *out += "  disagrees with the label on " + id + "\n";
    if (!enough && code == kExitPass) code = kExitRegression;
  }
  if (judges == 0) {
    *out += "no judge scorer" + (scorer_name.empty() ? std::string() : " named " + scorer_name) + " in " + opt.eval_path + "\n";
    return kExitInconclusive;
  }
  *out += "judge calls " + std::to_string(s.cache.calls.load()) + ", cache hits " + std::to_string(s.cache.hits.load()) + "\n";
  return code;
}

}  // namespace outrigger::eval
