// outrigger drift report: a route's traffic in a window against a baseline (an earlier window, or
// an eval run's results), from the trace store. Exit 0 no drift, 100 drift, 2 could not compare.
#include <chrono>
#include <cstdio>
#include <thread>
#include <fstream>

#include "cli/commands.h"
#include "cli/output_file.h"
#include "common/file_text.h"
#include "cli/sampled_judge.h"
#include "cli/store_options.h"
#include "eval/embedding_client.h"
#include "traces/drift.h"
#include "traces/drift_output.h"
#include "traces/drift_population.h"
#include "traces/drift_report.h"

namespace outrigger::cli {
namespace {

constexpr int kExitNoDrift = 0;
constexpr int kExitDrift = 100;
constexpr int kExitCannotCompare = 2;
constexpr int64_t kDayNs = 86400LL * 1000000000LL;
constexpr int64_t kHourNs = 3600LL * 1000000000LL;

// The current window: --since (default the last hour) to --until (default now); the baseline
// window: --baseline-since/--baseline-until, by default the day before the current window.
bool windowsOf(const Options& opt, traces::TraceFilter* current, traces::TraceFilter* baseline) {
  if (!filterOf(opt, "drift report", current)) return false;
  int64_t now = nowUnixNs();
  if (!current->until_unix_ns) current->until_unix_ns = now;
  if (!current->since_unix_ns) current->since_unix_ns = current->until_unix_ns - kHourNs;
  *baseline = *current;
  baseline->until_unix_ns = current->since_unix_ns;
  baseline->since_unix_ns = current->since_unix_ns - kDayNs;
  auto bound = [&](const std::string& text, const char* flag, int64_t* out) {
    if (text.empty()) return true;
    if (traces::parseTimeBound(text, now, out)) return true;
    std::fprintf(stderr, "outrigger drift report: %s %s: use 15m, 2h, 7d, Unix seconds or 2026-12-03T01:00:00Z\n", flag,
                 text.c_str());
    return false;
  };
  if (!bound(opt.baseline_since, "--baseline-since", &baseline->since_unix_ns) ||
      !bound(opt.baseline_until, "--baseline-until", &baseline->until_unix_ns)) {
    return false;
  }
  if (baseline->since_unix_ns >= baseline->until_unix_ns || current->since_unix_ns >= current->until_unix_ns) {
    std::fprintf(stderr, "outrigger drift report: a window is empty (its start is not before its end)\n");
    return false;
  }
  return true;
}

traces::EmbedTexts embedderOf(const Options& opt, std::unique_ptr<eval::EmbeddingClient>* client) {
  if (opt.embed_url.empty()) return {};
  *client = std::make_unique<eval::EmbeddingClient>(opt.embed_url, 30000);
  eval::EmbeddingClient* c = client->get();
  std::string route = opt.embed_route;
  return [c, route](const std::vector<std::string>& texts, std::string* error) { return c->embed(route, texts, error); };
}

void printTable(const traces::DriftReport& r) {
  for (const traces::DriftGroup& g : r.groups) {
    std::printf("%s%s%s: %s (%llu requests against %llu, baseline of the %s)\n", printable(g.route).c_str(),
                g.prompt.empty() ? "" : " ", printable(g.prompt).c_str(), traces::driftStatusName(g.status),
                static_cast<unsigned long long>(g.current_requests), static_cast<unsigned long long>(g.baseline_requests),
                g.baseline_scope.c_str());
    std::printf("  %-32s %-16s %12s %12s %12s  %s\n", "SIGNAL", "MEASURE", "BASELINE", "CURRENT", "VALUE", "STATUS");
    for (const traces::DriftSignal& s : g.signals) {
      char value[64];
      if (s.measure == "rate" || s.measure == "mean") {
        std::snprintf(value, sizeof value, "%+.4f [%+.4f, %+.4f]", s.value, s.ci.low, s.ci.high);
      } else if (s.measure == "cosine_distance") {
        std::snprintf(value, sizeof value, "%.4f (noise %.4f)", s.value, s.noise);
      } else {
        std::snprintf(value, sizeof value, "%.4f", s.value);
      }
      std::printf("  %-32s %-16s %12.4g %12.4g %12s  %s\n", printable(s.name).c_str(), s.measure.c_str(), s.baseline, s.current,
                  value, traces::driftStatusName(s.status));
    }
  }
  for (const traces::ModelEvent& e : r.events) {
    std::printf("event: %s %s %s changed %s -> %s (trace %s)\n", printable(e.route).c_str(), printable(e.target).c_str(),
                e.kind.c_str(), printable(e.from).c_str(), printable(e.to).c_str(), printable(e.trace_id).c_str());
  }
  for (const std::string& n : r.notes) std::printf("note: %s\n", printable(n).c_str());
  std::printf("%s\n", r.drifted() ? "drift: yes" : "drift: no");
}

// Whole or not at all, so a textfile collector never reads half a file.
bool writePrometheus(const std::string& path, const traces::DriftReport& report) {
  std::string error;
  if (writeWholeFile(path, traces::driftPrometheus(report), &error)) return true;
  std::fprintf(stderr, "outrigger drift report: %s\n", error.c_str());
  return false;
}

// The judge's spend today (UTC), so that --follow keeps to --judge-budget-usd a day.
struct DailySpend {
  int64_t day = -1;
  double spent_usd = 0;
  double remaining(double budget, int64_t now_ns) {
    int64_t today = now_ns / kDayNs;
    if (today != day) day = today, spent_usd = 0;
    return budget > spent_usd ? budget - spent_usd : 0;
  }
};

}  // namespace

int driftReport(const Options& opt) {
  traces::TraceFilter current, baseline_window;
  if (!windowsOf(opt, &current, &baseline_window)) return kExitCannotCompare;
  traces::Database db = openStore(opt, "drift report");
  if (!db) return kExitCannotCompare;
  std::unique_ptr<eval::EmbeddingClient> client;
  traces::EmbedTexts embed = embedderOf(opt, &client);
  traces::DriftPopulation eval_baseline;
  std::string error;
  if (!opt.baseline_eval.empty()) {
    std::string text;
    if (!readFileText(opt.baseline_eval, &text)) {
      std::fprintf(stderr, "outrigger drift report: cannot read %s\n", opt.baseline_eval.c_str());
      return kExitCannotCompare;
    }
    if (!traces::loadEvalBaseline(text, current.route, &eval_baseline, &error)) {
      std::fprintf(stderr, "outrigger drift report: %s: %s\n", opt.baseline_eval.c_str(), error.c_str());
      return kExitCannotCompare;
    }
  }
  SampledJudging judging;
  if (!opt.judge_route.empty() && !sampledJudgingOf(opt, "drift report", &judging)) return kExitCannotCompare;
  DailySpend spend;
  for (uint64_t round = 1;; ++round) {
    // Relative windows (--since 1h) move with each round.
    if (round > 1 && !windowsOf(opt, &current, &baseline_window)) return kExitCannotCompare;
    traces::DriftQuery q;
    q.current = current;
    q.baseline = baseline_window;
    q.thresholds = opt.drift;
    q.embed = embed;
    if (!opt.baseline_eval.empty()) {
      q.eval_baseline = &eval_baseline;
      q.eval_source = opt.baseline_eval;
    }
    JudgingTally tally;
    if (!opt.judge_route.empty()) {
      SampledJudging today = judging;
      today.budget_usd = spend.remaining(judging.budget_usd, nowUnixNs());
      q.read_content = true;
      q.annotate = [today, &tally](traces::DriftPopulation* baseline, traces::DriftPopulation* current) {
        std::vector<std::vector<JudgeItem>> groups;
        for (traces::DriftPopulation* pop : {baseline, current}) {
          if (!pop) continue;
          groups.emplace_back();
          for (traces::DriftSample& x : pop->samples) {
            if (!x.error) groups.back().push_back({&x.prompt_text, &x.answer, &x.judge});
          }
        }
        return judgeSamples(today, groups, &tally);
      };
    }
    traces::DriftReport report;
    if (!traces::driftReportFromStore(db.get(), q, {}, &report, &error)) {
      std::fprintf(stderr, "outrigger drift report: %s\n", error.c_str());
      if (opt.follow_seconds == 0) return kExitCannotCompare;
    } else {
      spend.spent_usd += tally.spent_usd;
      if (!opt.prometheus_out.empty() && !writePrometheus(opt.prometheus_out, report) && opt.follow_seconds == 0) {
        return kExitCannotCompare;
      }
      if (opt.json) {
        std::printf("%s\n", traces::driftJson(report).c_str());  // with --follow, one line a round
      } else if (opt.follow_seconds) {
        std::printf("round %llu: drift %s, %zu groups, %zu events%s\n", static_cast<unsigned long long>(round),
                    report.drifted() ? "yes" : "no", report.groups.size(), report.events.size(),
                    opt.judge_route.empty() ? "" : (", judge spent $" + std::to_string(spend.spent_usd) + " today").c_str());
      } else {
        printTable(report);
      }
      std::fflush(stdout);
      if (opt.follow_seconds == 0) {
        if (report.groups.empty()) return kExitCannotCompare;
        return report.drifted() ? kExitDrift : kExitNoDrift;
      }
    }
    std::this_thread::sleep_for(std::chrono::seconds(opt.follow_seconds));
  }
}

}  // namespace outrigger::cli
