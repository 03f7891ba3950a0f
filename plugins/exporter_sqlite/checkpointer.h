// Copies the trace store's write-ahead log into the database file on a thread of its own, so the
// exporter thread never waits for a checkpoint's writes and fsyncs. With the log's automatic
// checkpoints a commit that crossed the log's threshold ran the checkpoint itself; on a slow disk
// that held the exporter thread for long enough to fill the record queue.
//
// The writer's connection reports each commit's log size (sqlite3_wal_hook); past `pages` the
// checkpointer wakes and runs a PASSIVE checkpoint on its own connection (which never blocks the
// writer or readers). It also runs every second, and a last TRUNCATE checkpoint when it stops.
#pragma once

#include <sqlite3.h>

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

 private:
  static int onCommit(void* self, sqlite3* db, const char* name, int pages);
  void run();

  sqlite3* db_ = nullptr;  // the checkpointer's own connection
  int pages_ = 1000;
  std::mutex mu_;
  std::condition_variable cv_;
  bool wanted_ = false;
  bool stopping_ = false;
  uint64_t checkpoints_ = 0;  // checkpoint thread only until joined
  std::thread thread_;
};

}  // namespace outrigger::traces
