// Runs every case of the dataset through a target (a route of a running sidecar over its
// socket, or of the chain in this process), with `concurrency` requests in flight, a deadline per request and retries of
// retryable errors, then scores each answer. Progress goes to stderr: a bar on a terminal,
// one line per case otherwise.
#pragma once

#include <memory>
#include <vector>

#include "eval/chat_backend.h"
#include "eval/eval_file.h"
#include "eval/eval_types.h"
#include "eval/scorer.h"

namespace outrigger::eval {

using ScorerList = std::vector<std::unique_ptr<Scorer>>;

// Blocks until every case has an answer (or an error) and its scores.
TargetResult runTarget(ChatBackend* client, const EvalConfig& cfg, const TargetConfig& target,
                       const std::vector<EvalCase>& cases, const ScorerList& scorers);

// What decides a case: an answer error or a gating scorer that could not run is an error;
// otherwise it passes when every gating scorer passes (scorers set `gate = false`, and judges
// not calibrated, only report). A case no scorer applies to at all (its tags match none) is an
// error, added to `scores`: nothing looked at its answer, and a pass would let any through.
CaseStatus decideCase(const CaseOutput& out, std::vector<Score>* scores);

// The request fields a case sends: the target's extra, the case's extra, tools and
// response_format merged into one JSON object ("" when there is nothing to send).
std::string requestExtraJson(const TargetConfig& target, const EvalCase& c);

}  // namespace outrigger::eval
