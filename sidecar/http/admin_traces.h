// The admin server's trace store queries, the JSON twins of `outrigger traces`:
//   GET /traces?route=&tenant=&user=&session=&model=&provider=&status=&verdict=&prompt_id=
//               &prompt_version=&since=&until=&limit=      the newest requests, newest first
//   GET /traces/stats?by=tenant|model|route|provider|user|prompt_version&<the same filters>
//                    [&bucket=<seconds>]   with since: per group and time bucket, for charts
//   GET /traces/<trace id>                                  one trace: requests, spans, feedback
//
// Queries run on libuv's thread pool, never on the admin loop, so probes keep answering while a
// large store is read; each is interrupted after a few seconds (a 503 that says to narrow it).
// At most kMaxQueries are queued or running at once, of which at most kMaxDriftReports drift
// reports; another is answered 429 `busy` at once. Of them, at most kMaxRunning are on the pool at
// a time, the rest wait here in order: the pool is the process's (four threads), and the provider
// HTTP client resolves upstream host names on it, so queries holding every thread stalled new
// upstream connections for seconds. A drift report holds up to 200k rows per window: a burst of
// queries must neither queue without bound nor hold the memory of many reports. (The dashboard
// asks for four at once.)
#pragma once

#include <h2o.h>
#include <uv.h>

#include <deque>
#include <functional>
#include <memory>
#include <string>

namespace outrigger::http {

class AdminTraces {
 public:
  // `store_path`: [admin loop] the trace store the current config writes ("" when none).
  AdminTraces(uv_loop_t* loop, std::function<std::string()> store_path)
      : loop_(loop), store_path_(std::move(store_path)) {}
  ~AdminTraces();

  // True when `path` is one of the endpoints above; the answer follows, now or later.
  bool serve(h2o_req_t* req, std::string_view path);

  static constexpr int kMaxQueries = 8;
  static constexpr int kMaxDriftReports = 2;
  static constexpr int kMaxRunning = 2;

  // [admin loop] Queries queued or running (each job holds a slot of them).
  struct InFlight {
    int queries = 0;
    int drift_reports = 0;
    int running = 0;  // on the pool now
    // Queries waiting for the pool, oldest first: called with true to start one, false to drop it.
    std::deque<std::function<void(bool start)>> waiting;
  };

 private:
  uv_loop_t* loop_;
  std::function<std::string()> store_path_;
  std::shared_ptr<InFlight> in_flight_ = std::make_shared<InFlight>();
};

}  // namespace outrigger::http
