// outrigger eval run | simulate | calibrate: the flags around eval/eval_run.h and
// eval/simulation.h, and the report files.
#include <algorithm>
#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "cli/output_file.h"
#include "eval/eval_file.h"
#include "eval/eval_run.h"
#include "eval/in_process_backend.h"
#include "eval/report_stats.h"
#include "eval/reports.h"
#include "eval/simulation.h"

namespace outrigger::cli {

namespace {

bool writeFile(const std::string& path, const std::string& text) {
  if (path.empty()) return true;
  std::string error;
  if (writeWholeFile(path, text, &error)) return true;
  std::cerr << "outrigger eval: " << error << "\n";
  return false;
}

eval::RunOptions runOptions(const Options& opt) {
  eval::RunOptions r;
  r.eval_path = opt.eval_file;
  r.socket = opt.socket_path;
  r.baseline = opt.baseline;
  r.concurrency = std::min(opt.concurrency, eval::kMaxConcurrency);  // the eval file's bound too
  r.judge_cache = opt.judge_cache;
  return r;
}

// The summary on stdout: one line per target, then the notes and the verdict.
void printSummary(const eval::RunReport& run) {
  for (const auto& t : run.targets) {
    std::cout << t.result.name << ": " << eval::percent(t.result.passRate()) << " passed (" << t.result.passed << " pass, "
              << t.result.failed << " fail, " << t.result.errors << " error), $" << t.result.cost_usd << "; "
              << eval::gateSentence(t.gate) << "\n";
  }
  for (const auto& note : run.notes) std::cout << "note: " << note << "\n";
  std::cout << "verdict: " << run.verdict << " (exit " << run.exit_code << ")\n";
}

// With --config, the chain is built in this process; nullptr (and no error) otherwise.
std::unique_ptr<eval::InProcessBackend> inProcessChain(const Options& opt, std::string* error) {
  if (opt.config_path.empty()) return nullptr;
  return eval::InProcessBackend::start(opt.config_path, error);
}


using RunFunction = int (*)(const eval::RunOptions&, eval::RunReport*, std::string*);

// Runs `run` (an eval or a simulation) through the socket or the in-process chain, writes the
// reports asked for and prints the summary.
int runAndReport(const Options& opt, const char* command, RunFunction run_function) {
  eval::RunReport run;
  std::string error;
  auto chain = inProcessChain(opt, &error);
  if (!error.empty()) {
    std::cerr << "outrigger eval " << command << ": " << error << "\n";
    return eval::kExitInconclusive;
  }
  eval::RunOptions options = runOptions(opt);
  options.backend = chain.get();
  int code = run_function(options, &run, &error);
  if (!error.empty()) {
    std::cerr << "outrigger eval " << command << ": " << error << "\n";
    return eval::kExitInconclusive;
  }
  bool written = writeFile(opt.json_out, eval::resultsJson(run)) && writeFile(opt.junit_out, eval::junitXml(run)) &&
                 writeFile(opt.markdown_out, eval::markdownReport(run)) && writeFile(opt.html_out, eval::htmlReport(run));
  printSummary(run);
  return written ? code : eval::kExitInconclusive;
}

}  // namespace

int evalRun(const Options& opt) { return runAndReport(opt, "run", eval::runEval); }

int evalSimulate(const Options& opt) { return runAndReport(opt, "simulate", eval::runSimulation); }

int evalCalibrate(const Options& opt) {
  std::string out, error;
  auto chain = inProcessChain(opt, &error);
  if (!error.empty()) {
    std::cerr << "outrigger eval calibrate: " << error << "\n";
    return eval::kExitInconclusive;
  }
  eval::RunOptions options = runOptions(opt);
  options.backend = chain.get();
  int code = eval::calibrateJudges(options, opt.judge_scorer, opt.labels, &out);
  std::cout << out;
  return code;
}

}  // namespace outrigger::cli
