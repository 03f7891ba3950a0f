// exporter.sqlite: the local trace store. Every finished request (its spans, provider attempts,
// guardrail verdicts, usage, cost, and the content its route captures) and every feedback goes
// into one SQLite file that `outrigger traces` and the admin server's /traces query.
//
// Runs on the exporter thread: records go into an open transaction that a repeating timer on
// the instance loop commits once a second (or a full batch does), so a record costs one insert, not a
// commit and its fsync. Retention (age, size) runs on the same timer.
#include <outrigger/plugin.hpp>

#include <rapidjson/document.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>

#include "bounded_json.h"
#include "trace_writer.h"

namespace {

using namespace outrigger::plugin;
using outrigger::traces::Retention;
using outrigger::traces::RetentionResult;
using outrigger::traces::TraceWriter;

constexpr char kSchema[] = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "path": {"type": "string", "minLength": 1, "description": "the store (default: $XDG_STATE_HOME/outrigger/traces.db, else ~/.local/state/outrigger/traces.db)"},
    "commit_interval_ms": {"type": "integer", "minimum": 1, "maximum": 60000, "description": "commit what is written at least this often"},
    "batch_records": {"type": "integer", "minimum": 1, "maximum": 100000, "description": "commit when this many records are uncommitted"},
    "max_age_hours": {"type": "number", "minimum": 0, "description": "delete requests older than this (0: keep by age forever)"},
    "max_bytes": {"type": "integer", "minimum": 0, "maximum": 1099511627776, "description": "delete the oldest requests while the store is larger (0: no bound)"},
    "retention_interval_ms": {"type": "integer", "minimum": 100, "maximum": 86400000, "description": "how often retention runs (each run deletes at most 20,000 requests)"},
    "content": {"type": "boolean", "description": "keep the prompt and answer when the route captures them"}
  }
})json";

int64_t unixNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One writer per store file in the process. A reload builds the new instance while the old one
// still takes the records of requests that began before it, both on the exporter thread: with a
// connection each, one's open transaction (which only its timer, on that same thread, commits)
// would keep the other waiting for the write lock until it failed, records lost.
std::shared_ptr<TraceWriter> sharedWriter(const std::string& path, bool content, std::string* error) {
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<TraceWriter>> writers;
  std::error_code ec;
  std::string key = std::filesystem::weakly_canonical(path, ec).string();
  if (ec || key.empty()) key = path;
  std::lock_guard<std::mutex> lock(mu);
  for (auto it = writers.begin(); it != writers.end();) {  // forget the closed ones
    it = it->second.expired() ? writers.erase(it) : std::next(it);
  }
  if (auto open = writers[key].lock()) return open;
  std::shared_ptr<TraceWriter> w = TraceWriter::open(path, content, TraceWriter::kDefaultCacheMib, error);
  if (w) writers[key] = w;
  return w;
}

class SqliteExporter final : public Exporter {
 public:
  static constexpr const char* kName = "sqlite";
  static constexpr const char* kDescription =
      "Keeps every request, span, attempt, verdict and feedback in a local SQLite trace store";
  static constexpr const char* kConfigSchema = kSchema;
  static constexpr outrigger_stability kStability = OUTRIGGER_STABILITY_BETA;

  SqliteExporter(Host host, std::string_view name, std::string_view config) : Exporter(host, name) {
    rapidjson::Document d;
    if (!outrigger::json::parse(config, &d) || !d.IsObject()) throw std::runtime_error("config is not a JSON object");
    bool explicit_path = d.HasMember("path");
    std::string path = explicit_path ? d["path"].GetString() : outrigger::traces::defaultStorePath();
    if (d.HasMember("commit_interval_ms")) commit_interval_ms_ = d["commit_interval_ms"].GetUint();
    if (d.HasMember("batch_records")) batch_records_ = d["batch_records"].GetUint();
    if (d.HasMember("max_age_hours")) {
      retention_.max_age_ns = static_cast<int64_t>(d["max_age_hours"].GetDouble() * 3600e9);
    }
    if (d.HasMember("max_bytes")) retention_.max_bytes = d["max_bytes"].GetUint64();
    if (d.HasMember("retention_interval_ms")) retention_interval_ms_ = d["retention_interval_ms"].GetUint();
    content_ = !d.HasMember("content") || d["content"].GetBool();

    // A path the config names must work: a typo is a config error. The default location is a
    // convenience: where it cannot be written (a read-only root file system), the daemon serves
    // without a trace store and says so, rather than refusing to start.
    std::string error;
    if (!path.empty()) writer_ = sharedWriter(path, content_, &error);
    if (!writer_) {
      if (explicit_path) throw std::runtime_error(error);
      host.log(OUTRIGGER_LOG_WARN, "the trace store is off: " +
                                       (path.empty() ? std::string("neither XDG_STATE_HOME nor HOME is set") : error) +
                                       "; set path in its config");
      return;
    }
    path_ = path;
    // The timer belongs to the exporter thread's loop: it starts once that thread adopts this
    // instance (never during `outrigger check`).
    host.instancePost([this](outrigger_status st) {
      if (st != OUTRIGGER_OK) return;
      adopted_.store(true, std::memory_order_release);
      startTimer();
    });
  }

  // Only an instance the exporter thread adopted wrote anything, and only there may it touch the
  // writer: one a rejected reload built is destroyed on the main thread while the writer it
  // shares takes the live instance's records.
  ~SqliteExporter() override {
    if (adopted_.load(std::memory_order_acquire)) commit();
  }

  outrigger_status exportRecord(const outrigger_record_view& r) override {
    if (!writer_) return OUTRIGGER_E_INTERNAL;
    std::string error;
    if (!writer_->writeRequest(r, content_, &error)) return fail(error);
    return afterWrite();
  }

  outrigger_status exportFeedback(const outrigger_feedback_view& f) override {
    if (!writer_) return OUTRIGGER_E_INTERNAL;
    std::string error;
    if (!writer_->writeFeedback(f, &error)) return fail(error);
    return afterWrite();
  }

  outrigger_status flush() override { return commit(); }

  void reportMetrics(const MetricsWriter& w) override {
    if (!writer_) return;
    w.counter("trace_store_records_lost_total",
              "Records the trace store took but lost with a transaction that failed (a full disk at commit)", {},
              double(writer_->lost()));
  }

 private:
  outrigger_status afterWrite() {
    // Without a timer (a host without instance loops) every record commits on its own.
    // A batch waits in memory until its commit: records of large captured content commit early.
    if (!timer_running_ || writer_->uncommitted() >= batch_records_ || writer_->uncommittedBytes() >= kBatchBytes)
      return commit();
    return OUTRIGGER_OK;
  }

  outrigger_status commit() {
    if (!writer_) return OUTRIGGER_OK;
    std::string error;
    return writer_->commit(&error) ? OUTRIGGER_OK : fail(error);
  }

  outrigger_status fail(const std::string& error) {
    host().log(OUTRIGGER_LOG_ERROR, path_ + ": " + error);
    return OUTRIGGER_E_INTERNAL;
  }

  void startTimer() {
    uint64_t id = 0;
    outrigger_status st = host().instanceTimer(commit_interval_ms_, commit_interval_ms_, [this](outrigger_status s) {
      if (s != OUTRIGGER_OK) {
        timer_running_ = false;
        return;
      }
      commit();
      since_retention_ms_ += commit_interval_ms_;
      if (since_retention_ms_ >= retention_interval_ms_) {
        since_retention_ms_ = 0;
        enforceRetention();
      }
    }, &id);
    timer_running_ = st == OUTRIGGER_OK;
    enforceRetention();
  }

  void enforceRetention() {
    if (retention_.max_age_ns == 0 && retention_.max_bytes == 0) return;
    RetentionResult result;
    std::string error;
    if (!writer_->enforce(retention_, unixNowNs(), &result, &error, TraceWriter::kRetentionRowsPerRun)) {
      fail(error);
      return;
    }
    if (result.requests_deleted || result.feedback_deleted) {
      host().log(OUTRIGGER_LOG_DEBUG, "retention deleted " + std::to_string(result.requests_deleted) +
                                         " requests and " + std::to_string(result.feedback_deleted) + " feedback from " +
                                         path_);
    }
  }

  std::shared_ptr<TraceWriter> writer_;  // shared with the other instances on the same file
  std::string path_;
  bool content_ = true;
  // Few, large commits: trace ids are random, so every commit rewrites most leaf pages of their
  // index whether it holds a hundred records or ten thousand.
  uint32_t commit_interval_ms_ = 1000;
  uint32_t batch_records_ = 20000;
  static constexpr size_t kBatchBytes = 32u << 20;
  uint32_t retention_interval_ms_ = 1000;
  uint32_t since_retention_ms_ = 0;
  Retention retention_{static_cast<int64_t>(7 * 24 * 3600e9), 256ull << 20};
  bool timer_running_ = false;  // exporter thread only
  std::atomic<bool> adopted_{false};
};

}  // namespace

OUTRIGGER_PLUGIN("exporter_sqlite", "1.0.0", outrigger::plugin::typeOf<SqliteExporter>())
