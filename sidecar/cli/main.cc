// outrigger: serve, check, plugins, chat, prices, traces, alerts, eval, drift, version.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#ifdef OUTRIGGER_WITH_MIMALLOC
#include <mimalloc.h>
#endif

#include "chain/chain.h"
#include "cli/commands.h"
#include "cli/output_file.h"
#include "config/config.h"

namespace {

int printVersion() {
#ifdef OUTRIGGER_WITH_MIMALLOC
  std::printf("outrigger %s (plugin ABI %d.%d, protocol 1.0, mimalloc %d)\n", OUTRIGGER_VERSION, OUTRIGGER_ABI_MAJOR,
              OUTRIGGER_ABI_MINOR, mi_version());
#else
  std::printf("outrigger %s (plugin ABI %d.%d, protocol 1.0, system malloc)\n", OUTRIGGER_VERSION, OUTRIGGER_ABI_MAJOR,
              OUTRIGGER_ABI_MINOR);
#endif
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Outrigger: a reliability sidecar for LLM calls"};
  app.require_subcommand(1);
  outrigger::cli::Options opt;

  auto* serve = app.add_subcommand("serve", "Serve requests on the Unix socket");
  serve->add_option("-c,--config", opt.config_path, "TOML config (default: the embedded default config)");
  serve->add_option("-s,--socket", opt.socket_path, "Socket path (overrides the config)");
  serve->add_option("-w,--workers", opt.workers, "Worker threads (overrides the config)")->check(CLI::Range(0, 256));

  auto* check = app.add_subcommand("check", "Validate a config, load its plugins, print the resolved chain");
  check->add_option("-c,--config", opt.config_path, "TOML config (default: the embedded default config)");

  auto* plugins = app.add_subcommand("plugins", "List plugin types with kind, version, stability and config schema");
  plugins->add_option("-c,--config", opt.config_path, "TOML config whose plugin dirs to scan");
  plugins->add_option("-d,--dir", opt.plugin_dirs, "Plugin directory to scan (repeatable)");

  auto* chat = app.add_subcommand("chat", "Send one request through the socket and stream the answer");
  chat->add_option("message", opt.message, "The user message")->required();
  chat->add_option("-s,--socket", opt.socket_path, "Socket path (default: $OUTRIGGER_SOCKET, else the private runtime directory)");
  chat->add_option("-m,--model", opt.model, "Route or model name");
  chat->add_option("--system", opt.system, "System message");
  chat->add_option("--tenant", opt.tenant, "Tenant id");
  chat->add_option("--timeout-ms", opt.timeout_ms, "Deadline in milliseconds");
  chat->add_option("--extra-json", opt.extra_json, "Provider-specific JSON object");
  chat->add_flag("--no-stream", opt.no_stream, "Wait for the whole answer");

  auto* prices = app.add_subcommand("prices", "Model prices: import LiteLLM's price map, list the table a config uses");
  prices->require_subcommand(1);
  auto* import = prices->add_subcommand("import", "Convert LiteLLM's model_prices_and_context_window.json to Outrigger's price TOML");
  import->add_option("file", opt.price_file, "LiteLLM JSON (or an Outrigger price TOML)")->required();
  import->add_option("-o,--out", opt.price_out, "Write here (default: standard output)");
  import->add_option("-p,--provider", opt.providers, "Keep only this litellm_provider (repeatable)");
  import->add_option("--snapshot", opt.snapshot, "The snapshot note written at the top (default: the file name)");
  auto* list = prices->add_subcommand("list", "Print the price table a config prices with (USD per 1M tokens)");
  list->add_option("-c,--config", opt.config_path, "TOML config (default: the embedded default config)");
  list->add_option("filter", opt.filter, "Only entries whose provider/model contains this");

  auto* traces = app.add_subcommand("traces", "Query the local trace store that exporter.sqlite writes");
  traces->require_subcommand(1);
  auto store_options = [&](CLI::App* c, bool json = true) {
    c->add_option("--db", opt.db_path, "The trace store file (default: the one the config's exporter.sqlite writes)");
    c->add_option("-c,--config", opt.config_path, "TOML config (default: the embedded default config)");
    if (json) c->add_flag("--json", opt.json, "Print JSON, as the admin server's /traces answers");
  };
  auto filter_options = [&](CLI::App* c) {
    auto& f = opt.trace_filter;
    c->add_option("--route", f.route, "Only this route");
    c->add_option("--tenant", f.tenant, "Only this tenant");
    c->add_option("--user", f.user, "Only this user");
    c->add_option("--session", f.session, "Only this session");
    c->add_option("--model", f.model, "Only this model");
    c->add_option("--provider", f.provider, "Only this provider instance");
    c->add_option("--status", f.status, "Only this status (OK, UNAVAILABLE ...), or 'error' for every failure");
    c->add_option("--verdict", f.verdict, "Only requests a guardrail gave this verdict (flag, deny, rewrite ...)");
    c->add_option("--prompt-id", f.prompt_id, "Only this prompt id");
    c->add_option("--prompt-version", f.prompt_version, "Only this prompt version");
    c->add_option("--since", opt.since, "Started at or after: 15m, 2h, 7d, Unix seconds or 2026-12-03T01:00:00Z");
    c->add_option("--until", opt.until, "Started before (same forms as --since)");
  };
  // A sampled LLM judge over stored answers (drift report: per window; traces arms: per arm).
  auto judge_options = [&](CLI::App* c, const std::string& per) {
    c->add_option("--judge-route", opt.judge_route, "Grade a sample of each " + per + "'s captured answers with an "
                                                    "LLM judge through this route of the sidecar at --socket");
    c->add_option("-s,--socket", opt.socket_path, "The sidecar the judge route is on (default: as chat)");
    c->add_option("--judge-rubric", opt.judge_rubric, "The judge's rubric");
    c->add_option("--judge-rubric-file", opt.judge_rubric_file, "The judge's rubric, from a file");
    c->add_option("--judge-sample", opt.judge_sample, "Answers graded per " + per + ", spread evenly (default 50)");
    c->add_option("--judge-per-second", opt.judge_per_second, "Judge calls per second at most (default 5)");
    c->add_option("--judge-budget-usd", opt.judge_budget_usd, "Stop judging once its answers cost this (default 0.5)");
    c->add_option("--judge-cache", opt.judge_cache, "The judge cache (default .outrigger-judge-cache.sqlite)");
  };
  auto* traces_list = traces->add_subcommand("list", "The newest requests, filtered");
  store_options(traces_list);
  filter_options(traces_list);
  traces_list->add_option("-n,--limit", opt.trace_filter.limit, "How many (default 50)");
  auto* traces_show = traces->add_subcommand("show", "One trace: its requests as a span tree, verdicts, answer, feedback");
  traces_show->add_option("trace_id", opt.trace_id, "The trace id (32 hex digits)")->required();
  store_options(traces_show);
  auto* traces_stats = traces->add_subcommand("stats", "Latency percentiles, error and refusal rates, tokens and cost");
  store_options(traces_stats);
  filter_options(traces_stats);
  traces_stats->add_option("--by", opt.group_by, "Group by tenant, model, route, provider, user or prompt_version");
  traces_stats->add_option("--bucket", opt.bucket_seconds, "Per time bucket of this many seconds (needs --since)");
  auto* traces_arms = traces->add_subcommand("arms", "A split route's arms compared: errors, latency, cost, feedback (and sampled judge scores), with 95% intervals");
  store_options(traces_arms);
  filter_options(traces_arms);
  judge_options(traces_arms, "arm");

  auto* alerts = app.add_subcommand("alerts", "Alert rules: export them for Prometheus");
  alerts->require_subcommand(1);
  auto* alert_rules = alerts->add_subcommand("rules", "Print the config's [[alerts.rules]] as a Prometheus rules file");
  alert_rules->add_option("-c,--config", opt.config_path, "TOML config (default: the embedded default config)");
  alert_rules->add_option("-o,--out", opt.price_out, "Write here (default: standard output)");

  auto* eval = app.add_subcommand("eval", "Evaluate routes on a dataset (scorers, reports, a regression gate), simulate users against them, and capture production failures into datasets");
  eval->require_subcommand(1);
  auto* eval_run = eval->add_subcommand("run", "Run an eval file's dataset through its targets and score the answers "
                                               "(exit 0 pass, 100 regression, 2 could not evaluate)");
  eval_run->add_option("eval_file", opt.eval_file, "The eval TOML")->required();
  // What `run` and `simulate` share: where the chain is, the gate's baseline, reports, concurrency.
  auto run_options = [&](CLI::App* c, const std::string& unit, const std::string& in_flight) {
    auto* socket = c->add_option("-s,--socket", opt.socket_path, "The sidecar's socket (default: the file's, else as chat)");
    c->add_option("-c,--config", opt.config_path, "Build this config's chain in process instead of using a socket")
        ->excludes(socket);
    c->add_option("--baseline", opt.baseline, "An earlier results JSON: per-" + unit + " diffs and the regression gate");
    c->add_option("--json", opt.json_out, "Write the results JSON here");
    c->add_option("--junit", opt.junit_out, "Write JUnit XML here");
    c->add_option("--markdown", opt.markdown_out, "Write a Markdown summary here (for a pull-request comment)");
    c->add_option("--html", opt.html_out, "Write a self-contained HTML report here");
    c->add_option("-j,--concurrency", opt.concurrency, in_flight + " at once (overrides the file)");
    c->add_option("--judge-cache", opt.judge_cache, "The judge cache file (overrides the file)");
  };
  run_options(eval_run, "case", "Requests");
  auto* eval_simulate = eval->add_subcommand("simulate", "Play a simulation file's scenarios: personas (an LLM on a route) "
                                                         "talk to the targets for N turns, every transcript judged "
                                                         "(exit 0 pass, 100 below threshold, 2 could not evaluate)");
  eval_simulate->add_option("simulation_file", opt.eval_file, "The simulation TOML")->required();
  run_options(eval_simulate, "transcript", "Conversations");
  auto* eval_calibrate = eval->add_subcommand("calibrate", "Measure each judge's agreement with human labels "
                                                           "(exit 0 enough to gate, 100 below, 2 could not measure)");
  eval_calibrate->add_option("eval_file", opt.eval_file, "The eval TOML")->required();
  auto* calibrate_socket = eval_calibrate->add_option("-s,--socket", opt.socket_path, "The sidecar's socket");
  eval_calibrate->add_option("-c,--config", opt.config_path, "Build this config's chain in process instead of using a socket")
      ->excludes(calibrate_socket);
  eval_calibrate->add_option("--scorer", opt.judge_scorer, "Only the judge scorer of this name");
  eval_calibrate->add_option("--labels", opt.labels, "The labelled set (default: the scorer's labels)");
  eval_calibrate->add_option("--judge-cache", opt.judge_cache, "The judge cache file (overrides the eval file)");
  auto* eval_capture = eval->add_subcommand("capture", "Append the trace store's failed requests (errors, denials, flags, "
                                                       "refusals, fallbacks, low feedback) to a dataset, de-duplicated");
  eval_capture->add_option("dataset", opt.dataset_path, "The dataset (JSONL) to append to")->required();
  store_options(eval_capture, /*json=*/false);  // it writes cases, and says how many in a line
  filter_options(eval_capture);
  eval_capture->add_option("--only", opt.capture_only, "Only these: errors, denials, flags, refusals, fallbacks, feedback")
      ->delimiter(',')
      ->allow_extra_args(false);  // one value (or a comma list) each: not the dataset after it
  eval_capture->add_option("--feedback-below", opt.feedback_below, "Answers scored below this become cases");
  eval_capture->add_option("--redact", opt.redact, "An RE2 pattern replaced by <redacted> in the cases (repeatable)");
  eval_capture->add_option("--follow", opt.follow_seconds, "Keep capturing, every this many seconds");

  auto* drift = app.add_subcommand("drift", "Drift of a route's traffic against a baseline window or an eval run");
  drift->require_subcommand(1);
  auto* drift_report = drift->add_subcommand("report", "Compare answer length, latency, error, refusal and verdict rates, "
                                                       "feedback, judge scores and the answers' embedding centroid, per "
                                                       "route and prompt version (exit 0 no drift, 100 drift, 2 could not compare)");
  store_options(drift_report);
  filter_options(drift_report);
  drift_report->add_option("--baseline-since", opt.baseline_since, "The baseline window's start (default: a day before --since)");
  drift_report->add_option("--baseline-until", opt.baseline_until, "The baseline window's end (default: --since)");
  drift_report->add_option("--baseline-eval", opt.baseline_eval, "An eval run's results JSON as the baseline instead");
  drift_report->add_option("--prometheus", opt.prometheus_out, "Also write the report as Prometheus gauges to this file");
  drift_report->add_option("--follow", opt.follow_seconds, "Report again every this many seconds (windows move with "
                                                          "now; one line a round; the judge budget is per UTC day)");
  drift_report->add_option("--embed-url", opt.embed_url, "A sidecar's HTTP front (http://127.0.0.1:8080): compare the "
                                                         "captured answers' embedding centroids through it");
  drift_report->add_option("--embed-route", opt.embed_route, "The embeddings route for --embed-url")->default_val("embeddings");
  judge_options(drift_report, "window");
  drift_report->add_option("--min-samples", opt.drift.min_samples, "Fewer requests on either side: insufficient (default 30)");
  drift_report->add_option("--psi", opt.drift.psi_drifted, "A population stability index at or above this drifts (default 0.25)");
  drift_report->add_option("--min-rate-change", opt.drift.min_rate_change, "A significant rate change this large drifts (default 0.05)");
  drift_report->add_option("--min-latency-change-ms", opt.drift.min_latency_change_ms, "Latency drifts only when its "
                                                                                   "median moved this much too (default 100)");
  drift_report->add_option("--centroid-distance", opt.drift.centroid_distance, "A centroid distance above this (and above the "
                                                                               "baseline's noise) drifts (default 0.02)");

  app.add_subcommand("version", "Print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help prints and exits 0; any other parse error is a usage error, exit 2 as the commands'
    // own are (CLI11's own codes, 104 to 114, are documented nowhere).
    return app.exit(e) == 0 ? 0 : 2;
  }
  auto run = [&]() -> int {
    if (*serve) return outrigger::cli::serve(opt);
    if (*check) return outrigger::cli::check(opt);
    if (*plugins) return outrigger::cli::listPlugins(opt);
    if (*chat) return outrigger::cli::chat(opt);
    if (*import) return outrigger::cli::importPrices(opt);
    if (*list) return outrigger::cli::listPrices(opt);
    if (*traces_list) return outrigger::cli::listTraces(opt);
    if (*traces_show) return outrigger::cli::showTrace(opt);
    if (*traces_stats) return outrigger::cli::traceStats(opt);
    if (*traces_arms) return outrigger::cli::traceArms(opt);
    if (*alert_rules) return outrigger::cli::alertRules(opt);
    if (*eval_run) return outrigger::cli::evalRun(opt);
    if (*eval_simulate) return outrigger::cli::evalSimulate(opt);
    if (*eval_calibrate) return outrigger::cli::evalCalibrate(opt);
    if (*eval_capture) return outrigger::cli::captureCases(opt);
    if (*drift_report) return outrigger::cli::driftReport(opt);
    return printVersion();
  };
  int rc = run();
  // What went to standard output must have reached it: a full disk behind a redirect is a
  // failure, not a quiet success with half the output.
  if (!outrigger::cli::standardOutputWritten() && rc == 0) {
    std::fprintf(stderr, "outrigger: writing to standard output failed\n");
    rc = 1;
  }
  return rc;
}
