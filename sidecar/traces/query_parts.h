// The pieces the trace store's queries share (trace_query.cc, arm_comparison.cc): a WHERE clause
// from a filter, which feedback scores a request, a deadline that interrupts a query running too
// long, percentiles and refusals.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "traces/sqlite_statement.h"
#include "traces/trace_query.h"

namespace outrigger::traces::query_parts {

using Value = std::variant<std::string, int64_t>;

// A filter's status, any case: a code name (OK, UNAVAILABLE ...) or "error" (anything but OK).
std::string upperStatus(std::string status);
bool knownStatus(const std::string& status);

// A WHERE clause over `requests AS r` and the values it binds, in order.
struct Where {
  std::string sql;
  std::vector<Value> values;

  void add(const std::string& condition, Value v) {
    sql += sql.empty() ? " WHERE " : " AND ";
    sql += condition;
    values.push_back(std::move(v));
  }
  void addText(const char* column, const std::string& v) {
    if (!v.empty()) add(std::string("r.") + column + " = ?" + std::to_string(values.size() + 1), v);
  }
  void bind(Statement& s, int from = 1) const {
    for (size_t i = 0; i < values.size(); ++i) {
      int at = from + static_cast<int>(i);
      if (const auto* t = std::get_if<std::string>(&values[i])) s.text(at, *t);
      else s.integer(at, std::get<int64_t>(values[i]));
    }
  }
};


// The condition on `feedback AS fb` for the feedback that scores request `r`: its trace id, and
// its tenant or none (a caller without tenants, or an SDK whose feedback carries no metadata).
// Feedback naming another tenant never counts: a trace id is no secret, and one tenant must not
// score another's answers.
constexpr char kFeedbackOfRequest[] = "fb.trace_id = r.trace_id AND fb.tenant IN (r.tenant, '')";

// The bit exporter.sqlite sets in verdict_flags for a verdict; -1 for an unknown name.
int verdictBit(const std::string& name);
// The filter as a WHERE clause over `requests AS r`.
Where whereOf(const TraceFilter& f);

// Interrupts a query that runs past its deadline (sqlite3_progress_handler).
class QueryDeadline {
 public:
  QueryDeadline(sqlite3* db, const QueryLimits& limits) : db_(db) {
    if (limits.timeout_ms == 0) return;
    deadline_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(limits.timeout_ms);
    sqlite3_progress_handler(db_, 10000, &QueryDeadline::check, this);
    armed_ = true;
  }
  ~QueryDeadline() {
    if (armed_) sqlite3_progress_handler(db_, 0, nullptr, nullptr);
  }
  // True once past the deadline: for the work done between steps, which SQLite cannot interrupt.
  bool expired() { return armed_ && check(this) != 0; }
  // The error for a failed step: says so when it was the deadline.
  std::string error(const char* what) const {
    if (expired_) return std::string(what) + ": the query ran too long; narrow the filter (route, tenant, --since)";
    return std::string(what) + ": " + sqlite3_errmsg(db_);
  }

 private:
  static int check(void* self) {
    auto* d = static_cast<QueryDeadline*>(self);
    if (std::chrono::steady_clock::now() < d->deadline_) return 0;
    d->expired_ = true;
    return 1;
  }
  sqlite3* db_;
  std::chrono::steady_clock::time_point deadline_;
  bool armed_ = false;
  bool expired_ = false;
};


// The finish reasons that mean the model refused.
bool isRefusal(const std::string& finish_reason);
// A captured prompt (the store's JSON array of {role, content}) as "[role] content" lines, the
// way the eval judge reads a conversation; "" when there is none.
std::string promptConversation(const std::string& prompt_json);
// The p-th percentile (nearest rank) of sorted microseconds, in milliseconds.
double nearestRank(const std::vector<int64_t>& sorted_us, double p);

}  // namespace outrigger::traces::query_parts
