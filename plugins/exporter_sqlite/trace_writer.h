// Writes finished-request records and feedback into the trace store (sidecar/traces), batching
// them in memory until commit() inserts them in one transaction, and keeps the store within its
// retention.
//
// Thread: one caller at a time (the exporter thread). Commits append to the write-ahead log;
// copying it into the file (and its fsyncs) happens on the checkpointer's thread; a commit waits
// for it only to empty a log that grew past kLogResetPages because the writer never paused.
#pragma once

#include <outrigger/plugin.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "checkpointer.h"
#include "pending_rows.h"
#include "traces/trace_store.h"

namespace outrigger::traces {

struct Retention {
  int64_t max_age_ns = 0;   // rows older than this go; 0: no age limit
  uint64_t max_bytes = 0;   // the oldest rows go while the data pages need more; 0: no limit
};

struct RetentionResult {
  uint64_t requests_deleted = 0;
  uint64_t feedback_deleted = 0;
};

class TraceWriter {
 public:
  // The page cache exporter.sqlite gives its connection: at the default 256 MiB bound 32 MiB
  // read fewer pages back but wrote no faster (trace_store_bench).
  static constexpr uint32_t kDefaultCacheMib = 8;
  // Requests one retention run deletes at most, as the exporter runs it: at one run a second
  // that is 20,000 requests a second, above what the store takes in, in transactions short
  // enough that the exporter thread keeps up with new records meanwhile.
  static constexpr uint64_t kRetentionRowsPerRun = 20000;
  // The log's length (16 KiB pages) past which a commit empties it: 64 MiB. The checkpointer
  // keeps it near its 16 MiB threshold unless the writer never pauses.
  static constexpr int kLogResetPages = 4096;

  // `content`: keep the prompt and answer the route captured (false keeps metadata only).
  // `cache_mib`: the connection's page cache.
  static std::unique_ptr<TraceWriter> open(const std::string& path, bool content, uint32_t cache_mib,
                                           std::string* error);
  ~TraceWriter();

  // Adds the record's row to the batch the next commit inserts. `content`: as open's, for this
  // record (writers shared by instances of different configs). The store is not touched here,
  // so today this always succeeds; a failure shows at commit(). The status stays in the
  // signature for a writer that must refuse a record.
  bool writeRequest(const outrigger_record_view& record, bool content, std::string* error);
  bool writeRequest(const outrigger_record_view& record, std::string* error) {
    return writeRequest(record, content_, error);
  }
  bool writeFeedback(const outrigger_feedback_view& feedback, std::string* error);
  // Inserts the batch in one transaction; true when there was none. The store's write lock is
  // held only meanwhile, so other writers of the file (a second daemon) wait milliseconds.
  bool commit(std::string* error);
  // Records and feedback written since the last commit, and the memory they hold until it.
  size_t uncommitted() const { return uncommitted_; }
  size_t uncommittedBytes() const { return pending_.bytes(); }
  // Records written into a transaction that then failed (a COMMIT refused on a full disk, or an
  // insert error that made SQLite roll the whole transaction back): reported written, never stored.
  uint64_t lost() const { return lost_.load(std::memory_order_relaxed); }

  // Deletes what retention no longer keeps, in its own transaction (commits first), and gives
  // the freed pages back to the file system. `max_rows` (0: no limit) bounds the requests one
  // call deletes, so the exporter thread keeps up with new records while a large backlog goes.
  // Cheap when there is nothing to delete.
  bool enforce(const Retention& retention, int64_t now_unix_ns, RetentionResult* result, std::string* error,
               uint64_t max_rows = 0);
  // The bytes the store's live pages take (the file, less its free pages).
  uint64_t usedBytes() const;
  // The connection (benchmarks read its page cache statistics).
  sqlite3* handle() const { return db_.get(); }
  // Commits that had the log emptied, and those that waited in vain (a reader in the way).
  uint64_t logResets() const { return checkpointer_.logsEmptied(); }
  uint64_t logResetsFailed() const { return checkpointer_.logsNotEmptied(); }
  void setLogResetPagesForTest(int pages) { log_reset_pages_ = pages; }

 private:
  bool losePending(std::string* error, const char* why);
  // A batch's memory kept for the next one; a larger one is given back.
  static constexpr size_t kKeptPendingBytes = 4u << 20;
  struct Statements;
  TraceWriter(Database db, bool content);
  bool begin(std::string* error);
  void resetLogIfLong();

  Database db_;
  Checkpointer checkpointer_;  // stopped (and joined) before db_ closes
  std::unique_ptr<Statements> statements_;
  PendingRows pending_;
  uint64_t last_feedback_ns_ = 0;  // the feedback written last, known again by these
  std::string last_feedback_trace_;
  bool content_;
  bool in_transaction_ = false;
  size_t uncommitted_ = 0;
  std::atomic<uint64_t> lost_{0};  // read by /metrics on another thread
  int log_reset_pages_ = kLogResetPages;
};

}  // namespace outrigger::traces
