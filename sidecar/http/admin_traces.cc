#include "http/admin_traces.h"

#include "common/utf8.h"

#include <chrono>
#include <cstdlib>
#include <map>
#include <optional>

#include "http/reply.h"
#include "traces/drift_output.h"
#include "traces/drift_report.h"
#include "traces/trace_json.h"
#include "traces/trace_query.h"
#include "traces/trace_store.h"

namespace outrigger::http {
namespace {

constexpr uint32_t kQueryTimeoutMs = 3000;
constexpr uint32_t kMaxListLimit = 1000;

enum class Endpoint { kList, kStats, kArms, kDrift, kDriftMetrics, kTrace };

constexpr int64_t kHourNs = 3600LL * 1000000000LL;
constexpr int64_t kDayNs = 24 * kHourNs;

// A query's place among those queued or running, given back when its job ends (answered, or
// refused by the pool). Admin loop only.
class QuerySlot {
 public:
  QuerySlot(std::shared_ptr<AdminTraces::InFlight> counts, bool drift) : counts_(std::move(counts)), drift_(drift) {
    ++counts_->queries;
    counts_->drift_reports += drift_;
  }
  ~QuerySlot() {
    --counts_->queries;
    counts_->drift_reports -= drift_;
  }
  QuerySlot(const QuerySlot&) = delete;
  QuerySlot& operator=(const QuerySlot&) = delete;

 private:
  std::shared_ptr<AdminTraces::InFlight> counts_;  // the server's, which the job may outlive
  bool drift_;
};

// One query on its way through the thread pool. The request may go away meanwhile (the client
// closed the connection): its pool then disposes the guard, which clears `req`.
struct TraceJob {
  struct Guard {
    TraceJob* job;
  };
  uv_work_t work;
  h2o_req_t* req = nullptr;
  Guard* guard = nullptr;
  Endpoint endpoint = Endpoint::kList;
  std::string store_path;
  std::string trace_id;
  traces::TraceFilter filter;
  traces::GroupBy by = traces::GroupBy::kNone;
  uint32_t bucket_seconds = 0;  // stats only: per time bucket when set
  int64_t now_unix_ns = 0;      // when the parameters were read: relative bounds count from it
  // drift only: the baseline window (the current one is the filter's since/until)
  int64_t baseline_since_ns = 0, baseline_until_ns = 0;
  traces::DriftThresholds thresholds;
  // The answer, filled on the pool thread.
  int status = 200;
  std::string body;
  std::optional<QuerySlot> slot;
  uv_loop_t* loop = nullptr;
  std::shared_ptr<AdminTraces::InFlight> flight;  // the server's, for what waits after this job
};

void answerQuery(uv_work_t* work, int);
void runQuery(uv_work_t* work);

// Puts `job` on the pool, or answers 503 when the pool refuses it; the job is owned from here.
void startQuery(TraceJob* job) {
  ++job->flight->running;
  if (uv_queue_work(job->loop, &job->work, &runQuery, &answerQuery) == 0) return;
  job->status = 503;
  job->body = traces::errorJson("query_failed", "the query could not be queued");
  answerQuery(&job->work, 0);
}

void onRequestDisposed(void* p) {
  auto* guard = static_cast<TraceJob::Guard*>(p);
  if (guard->job) guard->job->req = nullptr, guard->job->guard = nullptr;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded: '+' is a space, %XX a byte. False on a broken escape.
bool isDrift(Endpoint e) { return e == Endpoint::kDrift || e == Endpoint::kDriftMetrics; }

bool decodeComponent(std::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      *out += ' ';
    } else if (in[i] == '%') {
      int hi = i + 1 < in.size() ? hexValue(in[i + 1]) : -1;
      int lo = i + 2 < in.size() ? hexValue(in[i + 2]) : -1;
      if (hi < 0 || lo < 0) return false;
      *out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      *out += in[i];
    }
  }
  return true;
}

bool parseQuery(std::string_view query, std::map<std::string, std::string>* out, std::string* error) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string key, value;
    if (!decodeComponent(pair.substr(0, eq), &key) ||
        !decodeComponent(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), &value)) {
      *error = "a query parameter has a broken %-escape";
      return false;
    }
    (*out)[key] = value;
  }
  return true;
}

// As `outrigger drift report`: the last hour against the day before it, unless told otherwise.
bool driftWindows(TraceJob* job, std::string* error) {
  traces::TraceFilter& f = job->filter;
  if (!f.until_unix_ns) f.until_unix_ns = job->now_unix_ns;
  if (!f.since_unix_ns) f.since_unix_ns = f.until_unix_ns - kHourNs;
  if (!job->baseline_until_ns) job->baseline_until_ns = f.since_unix_ns;
  if (!job->baseline_since_ns) job->baseline_since_ns = f.since_unix_ns - kDayNs;
  if (f.since_unix_ns >= f.until_unix_ns || job->baseline_since_ns >= job->baseline_until_ns) {
    *error = "a window is empty (its start is not before its end)";
    return false;
  }
  return true;
}

// Fills the job's filter (and grouping) from the query; false with a message for a 400.
bool readParameters(const std::map<std::string, std::string>& params, TraceJob* job, std::string* error) {
  traces::TraceFilter& f = job->filter;
  std::map<std::string, std::string*> text = {
      {"route", &f.route},       {"tenant", &f.tenant},     {"user", &f.user},
      {"session", &f.session},   {"model", &f.model},       {"provider", &f.provider},
      {"status", &f.status},     {"verdict", &f.verdict},   {"prompt_id", &f.prompt_id},
      {"prompt_version", &f.prompt_version}, {"trace_id", &f.trace_id}};
  int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  job->now_unix_ns = now;
  for (const auto& [key, value] : params) {
    if (auto it = text.find(key); it != text.end()) {
      *it->second = value;
    } else if ((key == "baseline_since" || key == "baseline_until") && isDrift(job->endpoint)) {
      if (!traces::parseTimeBound(value, now, key == "baseline_since" ? &job->baseline_since_ns : &job->baseline_until_ns)) {
        *error = key + "=" + value + ": use 15m, 2h, 7d, Unix seconds or 2026-12-03T01:00:00Z";
        return false;
      }
    } else if (key == "min_samples" && isDrift(job->endpoint)) {
      char* end = nullptr;
      unsigned long n = std::strtoul(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || n == 0 || n > 1000000) {
        *error = "min_samples must be 1..1000000";
        return false;
      }
      job->thresholds.min_samples = static_cast<uint32_t>(n);
    } else if (key == "since" || key == "until") {
      if (!traces::parseTimeBound(value, now, key == "since" ? &f.since_unix_ns : &f.until_unix_ns)) {
        *error = key + "=" + value + ": use 15m, 2h, 7d, Unix seconds or 2026-12-03T01:00:00Z";
        return false;
      }
      // 0 is the filter's "no bound": until=0 (the epoch) is a bound nothing is before, as the
      // CLI's --until 0 is.
      if (key == "until" && f.until_unix_ns == 0) f.until_unix_ns = -1;
    } else if (key == "limit" && job->endpoint == Endpoint::kList) {
      char* end = nullptr;
      unsigned long n = std::strtoul(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || n == 0 || n > kMaxListLimit) {
        *error = "limit must be 1.." + std::to_string(kMaxListLimit);
        return false;
      }
      f.limit = static_cast<uint32_t>(n);
    } else if (key == "by" && job->endpoint == Endpoint::kStats) {
      if (!traces::parseGroupBy(value, &job->by)) {
        *error = "by=" + value + ": use tenant, model, route, provider, user or prompt_version";
        return false;
      }
    } else if (key == "bucket" && job->endpoint == Endpoint::kStats) {
      char* end = nullptr;
      unsigned long n = std::strtoul(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || n == 0 || n > traces::kMaxBucketSeconds) {
        *error = "bucket must be 1.." + std::to_string(traces::kMaxBucketSeconds) + " seconds";
        return false;
      }
      job->bucket_seconds = static_cast<uint32_t>(n);
    } else {
      *error = "unknown query parameter " + key;
      return false;
    }
  }
  if (job->bucket_seconds && !traces::validBuckets(f, job->bucket_seconds, now, error)) return false;
  if (isDrift(job->endpoint) && !driftWindows(job, error)) return false;
  return traces::validFilter(f, error);
}

void runQuery(uv_work_t* work) {
  auto* job = static_cast<TraceJob*>(work->data);
  std::string error;
  traces::Database db = traces::openStoreForReading(job->store_path, &error);
  if (!db) {
    job->status = 503;
    job->body = traces::errorJson("trace_store_unavailable", error);
    return;
  }
  traces::QueryLimits limits{kQueryTimeoutMs};
  bool ok = false;
  switch (job->endpoint) {
    case Endpoint::kList: {
      std::vector<traces::RequestRow> rows;
      ok = traces::listRequests(db.get(), job->filter, limits, &rows, &error);
      if (ok) job->body = traces::requestsJson(rows);
      break;
    }
    case Endpoint::kArms: {
      std::vector<traces::ArmRow> arms;
      ok = traces::compareArms(db.get(), job->filter, limits, &arms, &error);
      if (ok) job->body = traces::armsJson(arms);
      break;
    }
    case Endpoint::kDrift:
    case Endpoint::kDriftMetrics: {
      traces::DriftQuery q;
      q.current = job->filter;
      q.baseline = job->filter;
      q.baseline.since_unix_ns = job->baseline_since_ns;
      q.baseline.until_unix_ns = job->baseline_until_ns;
      q.thresholds = job->thresholds;
      traces::DriftReport report;
      ok = traces::driftReportFromStore(db.get(), q, limits, &report, &error);
      if (ok) job->body = job->endpoint == Endpoint::kDrift ? traces::driftJson(report) : traces::driftPrometheus(report);
      break;
    }
    case Endpoint::kStats: {
      if (job->bucket_seconds) {
        std::vector<traces::SeriesRow> series;
        ok = traces::bucketedStats(db.get(), job->filter, job->by, job->bucket_seconds, limits, &series, &error);
        int64_t until = job->filter.until_unix_ns ? job->filter.until_unix_ns : job->now_unix_ns;
        if (ok) job->body = traces::bucketedStatsJson(job->by, job->bucket_seconds, job->filter.since_unix_ns, until, series);
        break;
      }
      std::vector<traces::StatsRow> rows;
      ok = traces::requestStats(db.get(), job->filter, job->by, limits, &rows, &error);
      if (ok) job->body = traces::statsJson(job->by, rows);
      break;
    }
    case Endpoint::kTrace: {
      traces::TraceDetail trace;
      ok = traces::loadTrace(db.get(), job->trace_id, limits, &trace, &error);
      if (ok && trace.requests.empty()) {
        job->status = 404;
        job->body = traces::errorJson("not_found", "no trace " + utf8Replaced(job->trace_id) + " in the store");
        return;
      }
      if (ok) job->body = traces::traceJson(job->trace_id, trace);
      break;
    }
  }
  if (!ok) {
    job->status = 503;
    job->body = traces::errorJson("query_failed", error);
  }
}

const char* reasonOf(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 429: return "Too Many Requests";
    default: return "Service Unavailable";
  }
}

void answerQuery(uv_work_t* work, int) {
  auto* job = static_cast<TraceJob*>(work->data);
  if (job->req) {
    job->guard->job = nullptr;
    bool exposition = job->endpoint == Endpoint::kDriftMetrics && job->status == 200;
    sendWhole(job->req, job->status, reasonOf(job->status),
              exposition ? "text/plain; version=0.0.4; charset=utf-8" : "application/json", job->body);
  }
  std::shared_ptr<AdminTraces::InFlight> flight = std::move(job->flight);
  delete job;
  --flight->running;
  if (!flight->waiting.empty()) {
    auto next = std::move(flight->waiting.front());
    flight->waiting.pop_front();
    next(true);
  }
}

}  // namespace

bool AdminTraces::serve(h2o_req_t* req, std::string_view path) {
  if (path != "/traces" && path.rfind("/traces/", 0) != 0) return false;
  auto job = std::make_unique<TraceJob>();
  if (path == "/traces") {
    job->endpoint = Endpoint::kList;
  } else if (path == "/traces/stats") {
    job->endpoint = Endpoint::kStats;
  } else if (path == "/traces/arms") {
    job->endpoint = Endpoint::kArms;
  } else if (path == "/traces/drift") {
    job->endpoint = Endpoint::kDrift;
  } else if (path == "/traces/drift/metrics") {
    job->endpoint = Endpoint::kDriftMetrics;
  } else {
    job->endpoint = Endpoint::kTrace;
    job->trace_id = std::string(path.substr(8));
    if (job->trace_id.empty() || job->trace_id.find('/') != std::string::npos) return false;
  }
  std::string_view full = view(req->path);
  std::string_view query = req->query_at == SIZE_MAX ? std::string_view() : full.substr(req->query_at + 1);
  std::map<std::string, std::string> params;
  std::string error;
  if (!parseQuery(query, &params, &error) || !readParameters(params, job.get(), &error)) {
    sendWhole(req, 400, "Bad Request", "application/json", traces::errorJson("invalid_request", error));
    return true;
  }
  if (job->endpoint == Endpoint::kArms && job->filter.route.empty()) {
    sendWhole(req, 400, "Bad Request", "application/json",
              traces::errorJson("invalid_request", "route= is required: the route that splits its traffic"));
    return true;
  }
  job->store_path = store_path_ ? store_path_() : std::string();
  if (job->store_path.empty()) {
    sendWhole(req, 404, "Not Found", "application/json",
              traces::errorJson("no_trace_store", "the config has no exporter.sqlite instance"));
    return true;
  }
  const bool drift = isDrift(job->endpoint);
  if (in_flight_->queries >= kMaxQueries || (drift && in_flight_->drift_reports >= kMaxDriftReports)) {
    std::string running = drift ? std::to_string(in_flight_->drift_reports) + " drift reports"
                                : std::to_string(in_flight_->queries) + " trace store queries";
    sendWhole(req, 429, "Too Many Requests", "application/json",
              traces::errorJson("busy", running + " are running: retry in a moment"));
    return true;
  }
  job->req = req;
  job->slot.emplace(in_flight_, drift);
  job->guard = static_cast<TraceJob::Guard*>(h2o_mem_alloc_shared(&req->pool, sizeof(TraceJob::Guard), &onRequestDisposed));
  job->guard->job = job.get();
  job->work.data = job.get();
  job->loop = loop_;
  job->flight = in_flight_;
  TraceJob* queued = job.release();  // answerQuery frees it
  if (in_flight_->running < kMaxRunning) {
    startQuery(queued);
  } else {
    in_flight_->waiting.push_back([queued](bool start) {
      if (start && queued->req) return startQuery(queued);
      // Dropped, or its client went away while it waited: nothing to run it for.
      if (queued->guard) queued->guard->job = nullptr;
      std::shared_ptr<AdminTraces::InFlight> flight = queued->flight;
      delete queued;
      if (start && !flight->waiting.empty()) {
        auto next = std::move(flight->waiting.front());
        flight->waiting.pop_front();
        next(true);
      }
    });
  }
  return true;
}

AdminTraces::~AdminTraces() {
  // Queries that never reached the pool go with the server (those on it finish and are freed
  // by answerQuery); their requests go with the server's connections.
  auto waiting = std::move(in_flight_->waiting);
  for (auto& drop : waiting) drop(false);
}

}  // namespace outrigger::http
