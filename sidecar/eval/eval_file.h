// The eval file (TOML): which dataset, which targets, which scorers, and how to run them.
// The format, with an example, is in sidecar/eval/README.md. Unknown keys are errors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace outrigger::eval {

struct TargetConfig {
  std::string name;
  std::string route;       // the route (or model name) requests are sent to
  std::string extra_json;  // provider-specific fields for every request to this target
};

// One scorer as written. Which keys apply depends on `type` (see scorer.h).
struct ScorerConfig {
  std::string type, name;
  double threshold = -1;  // -1: the type's default
  std::string value;      // contains / exact: compare with this instead of the case's `expected`
  std::string pattern;    // regex
  bool ignore_case = false;
  std::string schema_json;  // json_schema: the schema (from `schema` or `schema_file`)
  double max_ms = 0, max_usd = 0;
  std::string route;      // judge and embedding: the route that answers
  std::string rubric;     // judge
  std::vector<std::string> command;  // command: argv of the external scorer
  std::string working_dir;           // command: runs here (the eval file's directory)
  uint32_t timeout_ms = 10000;       // command
  std::string plugin_path;    // plugin: the shared library (resolved against the eval file)
  std::string plugin_config;  // plugin: `config` as written (a string), or a table as JSON text
  bool gate = true;       // false: reported but never decides a case
  std::vector<std::string> tags;  // when set, only cases with one of these tags are scored
  double min_agreement = 0.9;  // judge: the calibrated agreement needed to gate
  std::string labels;     // judge: the labelled set calibrate (and run, before gating) reads
};

// Cases in flight at once, at most: each is a runner thread.
inline constexpr uint32_t kMaxConcurrency = 256;

struct EvalConfig {
  std::string path, dir;  // the file and its directory (relative paths are read from there)
  std::string name;
  std::string dataset;
  std::string socket;
  uint32_t concurrency = 4;
  uint32_t timeout_ms = 30000;
  uint32_t retries = 1;
  uint32_t retry_backoff_ms = 200;
  double min_pass_rate = 1.0;  // without a baseline, a lower pass rate fails the run
  std::string judge_cache;     // SQLite file; default: .outrigger-judge-cache.sqlite beside the file
  std::string embeddings_url;  // OpenAI-compatible front answering POST /v1/embeddings
  std::vector<TargetConfig> targets;
  std::vector<ScorerConfig> scorers;
};

// Reads and checks the file; false with `error` naming the file, line and key.
[[nodiscard]] bool readEvalFile(const std::string& path, EvalConfig* out, std::string* error);

// `path` resolved against the eval file's directory (absolute paths are kept).
std::string resolvePath(const EvalConfig& cfg, const std::string& path);

}  // namespace outrigger::eval
