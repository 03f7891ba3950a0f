// One `outrigger eval run`, or one `outrigger eval calibrate`, from the eval file to the
// finished report. The CLI (cli/eval_commands.cc) parses flags and writes the reports.
//
// Exit codes:
//   0    pass: no significant regression against the baseline (or, without a baseline, a pass
//        rate at or above min_pass_rate), and every case could be evaluated
//   100  regression: a drop significant at 95% against the baseline (or, without a baseline, a
//        pass rate below min_pass_rate); for calibrate, a judge below its min_agreement
//   2    could not evaluate: a bad eval file or dataset, an unreachable sidecar, or cases whose
//        answer or scorer could not be obtained
#pragma once

#include <memory>
#include <string>

#include "eval/chat_backend.h"
#include "eval/eval_types.h"

namespace outrigger::eval {

inline constexpr int kExitPass = 0;
inline constexpr int kExitRegression = 100;
inline constexpr int kExitInconclusive = 2;

struct RunOptions {
  std::string eval_path;
  std::string socket;    // overrides the eval file's
  std::string baseline;  // an earlier results JSON
  uint32_t concurrency = 0;  // overrides the eval file's when set
  std::string judge_cache;   // overrides the eval file's
  // Requests go here instead of a socket (the chain built in process); not owned.
  ChatBackend* backend = nullptr;
};

// What a run talks through: `opt.backend` when set, else a client connected to `opt.socket`
// (else `file_socket`, the eval file's). False with `error` when the sidecar cannot be reached.
struct BackendLink {
  std::unique_ptr<client::Client> client;
  std::unique_ptr<SocketBackend> socket;
  ChatBackend* backend = nullptr;
};
[[nodiscard]] bool connectBackend(const RunOptions& opt, const std::string& file_socket, BackendLink* link, std::string* error);

// Sets the report's verdict, exit code and notes from its targets: a significant regression
// against the baseline (100) wins over cases that could not be evaluated (2), which win over a
// pass rate below `min_pass_rate` where there was no baseline to compare with (100).
void decideVerdict(double min_pass_rate, bool have_baseline, RunReport* run);

// The current time, RFC 3339 in UTC.
std::string nowRfc3339();

// Runs the eval. On a setup error returns kExitInconclusive with `error` set and `report`
// empty; otherwise the report's exit_code.
int runEval(const RunOptions& opt, RunReport* report, std::string* error);

// Measures each judge scorer (or only `scorer_name`) against its labels; prints one line per
// judge to `out`. Returns 0 when every judge meets min_agreement, 100 when one does not, 2 when
// one could not be measured.
int calibrateJudges(const RunOptions& opt, const std::string& scorer_name, const std::string& labels_override,
                    std::string* out);

}  // namespace outrigger::eval
