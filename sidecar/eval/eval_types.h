// The data an eval run passes between its parts: cases read from the dataset, what a target
// answered, each scorer's verdict, and the per-target results the reports and the gate read.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "outrigger/client.h"

namespace outrigger::eval {

// One line of the dataset. `messages` is final: a prompt template is rendered when the case is
// read. JSON-valued fields (tools, response_format, expected_tool_calls, extra) stay JSON text.
struct EvalCase {
  std::string id;
  std::vector<client::Message> messages;
  std::string expected;             // expected output, or the reference an answer is compared with
  std::vector<std::string> tags;
  std::map<std::string, std::string> metadata;
  std::string tools_json;           // OpenAI `tools`, sent to the target
  std::string response_format_json; // OpenAI `response_format`, sent to the target
  std::string expected_tool_calls_json;  // [{name, arguments}] the tool_call scorer compares with
  std::string extra_json;           // provider-specific fields merged into the request
  std::string line_json;            // the case as written, for external scorers
};

// What the target answered for a case (or why it could not).
struct CaseOutput {
  bool ok = false;
  std::string content;
  std::vector<client::ToolCall> tool_calls;
  std::string error;       // when !ok: the last attempt's error
  std::string error_code;  // its status name ("" when answered)
  double latency_ms = 0;
  double cost_usd = 0;
  uint32_t attempts = 0;
  uint32_t prompt_tokens = 0, completion_tokens = 0;
  std::string trace_id;
};

// One scorer's verdict on one case. A scorer that could not run sets `error`; that is a runtime
// error of the case (JUnit <error>), not a failure.
struct Score {
  std::string scorer;
  double score = 0;
  bool pass = false;
  bool gating = true;  // false: reported, but does not decide the case (an uncalibrated judge)
  std::string reason;
  std::string error;
};

// One turn of a simulated conversation (`outrigger eval simulate`): what the persona wrote and
// what the target did with it.
struct Turn {
  std::string user;      // the persona's message
  bool sent = true;      // false: the persona's closing message (it said the stop phrase), not sent
  std::string answer;    // the target's answer ("" when it gave none)
  std::string error;     // why it gave none, e.g. "PERMISSION_DENIED [guardrail/input_rules]: ..."
  std::string error_code;  // the status name of `error` ("" when answered)
  std::vector<client::Verdict> verdicts;  // the guardrails' verdicts on this turn (a denial's too)
  double latency_ms = 0, cost_usd = 0;    // the target's answered (or last) attempt, and its cost
  uint32_t attempts = 0, prompt_tokens = 0, completion_tokens = 0;
  std::string trace_id;
  double persona_latency_ms = 0, persona_cost_usd = 0;  // writing `user`
};

enum class CaseStatus { kPass, kFail, kError };
const char* caseStatusName(CaseStatus s);

struct CaseResult {
  const EvalCase* input = nullptr;
  CaseOutput output;
  std::vector<Score> scores;
  CaseStatus status = CaseStatus::kError;
  // A simulated conversation's turns, and why it ended (max_turns, stop_phrase, goal_met, denied,
  // target_error, persona_error, judge_error); empty for a dataset case.
  std::vector<Turn> turns;
  std::string ended;
};

struct TargetResult {
  std::string name, route;
  std::vector<CaseResult> cases;
  uint32_t passed = 0, failed = 0, errors = 0;
  double cost_usd = 0;
  double passRate() const { return cases.empty() ? 0 : static_cast<double>(passed) / cases.size(); }
};

// How a target compares with the baseline run.
struct CaseChange {
  std::string id;
  std::string before, after;  // status names
};
struct GateResult {
  bool compared = false;        // the baseline had this target
  double baseline_pass_rate = 0;
  double delta = 0, low = 0, high = 0;  // candidate - baseline pass rate, and its 95% interval
  double p_value = 1;  // exact McNemar over the cases that changed (the decision)
  uint32_t paired_cases = 0;
  bool regression = false;
  std::vector<CaseChange> changes;
};

struct TagStats {
  uint32_t passed = 0, total = 0;
  double baseline_rate = -1;  // -1: no baseline for this tag
};

struct TargetReport {
  TargetResult result;
  GateResult gate;
  std::map<std::string, TagStats> tags;
};

struct RunReport {
  std::vector<EvalCase> cases;  // the dataset; every CaseResult::input points in here
  std::string name;
  std::string started_at;  // RFC 3339, UTC
  double duration_s = 0;
  std::vector<TargetReport> targets;
  std::vector<std::string> notes;  // why a judge cannot gate, what the gate decided ...
  uint64_t judge_calls = 0, judge_cache_hits = 0;
  int exit_code = 0;
  std::string verdict;  // "pass", "regression", "fail", "inconclusive"
};

}  // namespace outrigger::eval
