// Copies the trace store's write-ahead log into the database file on a thread of its own, so the
// exporter thread never waits for a checkpoint's writes and fsyncs. With the log's automatic
// checkpoints a commit that crossed the log's threshold ran the checkpoint itself; on a slow disk
// that held the exporter thread for long enough to fill the record queue.
//
// The writer's connection reports each commit's log size (sqlite3_wal_hook); past `pages` the
// checkpointer wakes and runs a PASSIVE checkpoint on its own connection (which never blocks the
// writer or readers). It also runs every second, and a last TRUNCATE checkpoint when it stops.
//
// A log starts over only when a checkpoint copied all of it before the writer's next transaction.
// A writer that never pauses (the exporter thread behind a backlog) appends while each passive
// copy runs, so that never happens and the log grew without bound: 2.5 GB in 14 s of
// trace_store_bench. The writer then calls emptyLog() between its transactions: it waits while
// this thread finishes the copy it is making, copies what is left without a lock, and runs a
// TRUNCATE checkpoint, which holds the write lock for the little appended since and empties the
// file.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace outrigger::traces {

class Checkpointer {
 public:
  // Installs the WAL hook on `writer` (replacing SQLite's automatic checkpoints) and starts the
  // thread, which opens `path` itself. False with a reason when its connection cannot open.
  bool start(sqlite3* writer, const std::string& path, int pages, std::string* error);
  // Runs a last checkpoint and joins the thread. The writer must still be open.
  void stop();
  ~Checkpointer() { stop(); }

  uint64_t checkpoints() const { return checkpoints_; }
  // The log's length in pages at the writer's last commit.
  int logPages() const { return log_pages_.load(std::memory_order_relaxed); }
  // From the writer, outside a transaction: empties the log, waiting at most `wait` for it. False
  // when that did not happen in time, or a reader's old snapshot kept more than
  // kTruncateBacklogPages from being copied or was still there after kReaderWaitMs.
  bool emptyLog(std::chrono::milliseconds wait);
  // Logs emptied at the writer's request, and emptyLog() calls that returned without.
  uint64_t logsEmptied() const { return logs_emptied_.load(std::memory_order_relaxed); }
  uint64_t logsNotEmptied() const { return logs_not_emptied_.load(std::memory_order_relaxed); }

  static constexpr int kReaderWaitMs = 200;
  static constexpr int kTruncateBacklogPages = 256;

 private:
  static int onCommit(void* self, sqlite3* db, const char* name, int pages);
  void run();
  bool copyAndTruncate();  // on this thread, for emptyLog()

  sqlite3* db_ = nullptr;  // the checkpointer's own connection
  int pages_ = 1000;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable emptied_cv_;
  bool wanted_ = false;
  bool stopping_ = false;
  bool empty_wanted_ = false;
  uint64_t empty_requests_ = 0, empty_answers_ = 0;  // emptyLog() calls made and answered
  bool empty_ok_ = false;                            // the last answer
  uint64_t checkpoints_ = 0;  // checkpoint thread only until joined
  std::atomic<int> log_pages_{0};
  std::atomic<uint64_t> logs_emptied_{0}, logs_not_emptied_{0};
  std::thread thread_;
};

}  // namespace outrigger::traces
