// Production failures into eval cases (`outrigger eval capture`): from the trace store, the
// requests that went wrong become lines of an eval dataset. What goes wrong: an error, a
// guardrail's deny or flag (schema failures among them), a refusal, a fallback or a degraded
// answer, and user feedback below a threshold (from the request's tenant, or one naming none).
// Only requests whose record kept the prompt's text (`capture = "full"`; a denied prompt only with
// `capture_denied = "full"`) can become cases; what the store holds is the prompt as the provider
// saw it, after rewriting guardrails (PII redaction), and `redact` patterns are applied on top.
// A case keeps its messages' names, tool call ids and tool calls, so a tool conversation replays.
// Cases are de-duplicated by a normalized prompt hash, against the dataset and within a run, and
// carry their provenance (trace id, time, route, prompt id and version, why) in `metadata`.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "traces/trace_query.h"

namespace outrigger::traces {

struct CaptureOptions {
  TraceFilter filter;             // route, tenant, time range ... (its limit is ignored)
  bool errors = true, denials = true, flags = true, refusals = true, fallbacks = true;
  double feedback_below = -1;     // capture answers scored below this; < 0: feedback not used
  std::vector<std::string> redact;  // RE2 patterns replaced by <redacted> in the case's text
  int64_t after_request = 0;      // only store rows after this id (continuous capture) ...
  int64_t after_feedback = 0;     // ... and those that feedback stored after this id scores low
  size_t max_cases = 10000;
};

struct CapturedCase {
  std::string line;         // one dataset line (JSON)
  std::string prompt_hash;  // what de-duplicates it
};

struct CaptureReport {
  uint64_t scanned = 0, captured = 0, duplicates = 0, without_text = 0;
  int64_t last_request = 0;   // the newest store row looked at (for the next round)
  int64_t last_feedback = 0;  // the newest feedback this round saw (for the next round)
};

// Appends new cases to `out`; `known` holds the dataset's prompt hashes and gains the new ones.
bool captureCases(sqlite3* db, const CaptureOptions& options, std::set<std::string>* known, std::vector<CapturedCase>* out,
                  CaptureReport* report, std::string* error);

// The prompt hashes of the cases already in a dataset file (its lines' metadata.prompt_hash).
std::set<std::string> knownPromptHashes(const std::string& dataset_path);

}  // namespace outrigger::traces
