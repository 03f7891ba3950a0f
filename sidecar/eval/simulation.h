// `outrigger eval simulate`: every scenario of a simulation file played by each of its personas
// against each target (conversation.h), then every transcript scored:
//   goal        the judge: did the assistant reach the scenario's goal (its `success` rubric)
//   policy      the judge, when [judge] policy is set: did the assistant hold it in every reply
//   guardrails  when the scenario sets expect_denial: a guardrail denied a turn (true) or none (false)
//   answered    with on_target_error = "fail": the target answered every turn
// A transcript passes when each of these passes. It cannot be evaluated (an error, exit 2) when
// the persona or the judge route failed, or the target failed with on_target_error = "error".
//
// Transcripts are reported as the cases of an eval run (id "<scenario>/<persona>", tags
// "scenario:<name>" and "persona:<name>", the turns attached), so the results JSON, JUnit,
// Markdown and HTML reports, the baseline gate and the exit codes are those of `eval run`.
#pragma once

#include <string>

#include "eval/eval_run.h"
#include "eval/eval_types.h"

namespace outrigger::eval {

// `opt.eval_path` is the simulation file. On a setup error returns kExitInconclusive with
// `error` set; otherwise the report's exit code.
int runSimulation(const RunOptions& opt, RunReport* report, std::string* error);

}  // namespace outrigger::eval
