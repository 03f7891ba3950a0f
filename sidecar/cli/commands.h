// The CLI's subcommands. Each returns the process exit code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "traces/drift.h"
#include "traces/trace_query.h"

namespace outrigger::cli {

struct Options {
  std::string config_path;
  std::string socket_path;
  std::optional<uint32_t> workers;  // serve --workers
  std::vector<std::string> plugin_dirs;
  std::string message, model = "default", system, tenant, extra_json;
  uint32_t timeout_ms = 0;
  bool no_stream = false;
  // prices import / list; price_out is also alerts rules' --out
  std::string price_file, price_out, snapshot, filter;
  std::vector<std::string> providers;
  // traces list | show | stats
  std::string db_path, trace_id, since, until, group_by;
  traces::TraceFilter trace_filter;
  uint32_t bucket_seconds = 0;  // stats: per time bucket of this many seconds
  bool json = false;
  // eval run | simulate | calibrate
  std::string eval_file, baseline, json_out, junit_out, markdown_out, html_out, judge_scorer, labels, judge_cache;
  uint32_t concurrency = 0;
  // eval capture
  std::string dataset_path;
  double feedback_below = -1;
  std::vector<std::string> redact, capture_only;
  uint32_t follow_seconds = 0;
  // drift report (the current window is --since/--until)
  std::string baseline_since, baseline_until, baseline_eval, prometheus_out, embed_url, embed_route;
  traces::DriftThresholds drift;
  std::string judge_route, judge_rubric, judge_rubric_file;  // drift report's sampled judge
  uint32_t judge_sample = 50;
  double judge_per_second = 5, judge_budget_usd = 0.5;
};

int serve(const Options& opt);
int check(const Options& opt);
int listPlugins(const Options& opt);
int chat(const Options& opt);
// price_commands.cc
int importPrices(const Options& opt);
int listPrices(const Options& opt);
// trace_commands.cc
int listTraces(const Options& opt);
int showTrace(const Options& opt);
int traceStats(const Options& opt);
int traceArms(const Options& opt);
int captureCases(const Options& opt);
// alert_commands.cc
int alertRules(const Options& opt);
// eval_commands.cc
int evalRun(const Options& opt);
int evalSimulate(const Options& opt);
int evalCalibrate(const Options& opt);
// drift_commands.cc
int driftReport(const Options& opt);

}  // namespace outrigger::cli
