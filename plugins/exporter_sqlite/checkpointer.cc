#include "checkpointer.h"

#include <pthread.h>
#include <chrono>

namespace outrigger::traces {

bool Checkpointer::start(sqlite3* writer, const std::string& path, int pages, std::string* error) {
  int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    *error = "checkpoint connection to " + path + ": " + (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
    sqlite3_close_v2(db_);
    db_ = nullptr;
    return false;
  }
  sqlite3_busy_timeout(db_, 5000);
  // A connection learns the file is in WAL mode when it first reads it; until then a checkpoint
  // is a no-op.
  if (sqlite3_exec(db_, "PRAGMA journal_mode = WAL", nullptr, nullptr, nullptr) != SQLITE_OK) {
    *error = "checkpoint connection to " + path + ": " + sqlite3_errmsg(db_);
    sqlite3_close_v2(db_);
    db_ = nullptr;
    return false;
  }
  pages_ = pages;
  sqlite3_wal_hook(writer, &Checkpointer::onCommit, this);
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "or-checkpoint");
    run();
  });
  return true;
}

void Checkpointer::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  thread_.join();
  sqlite3_close_v2(db_);
  db_ = nullptr;
}

int Checkpointer::onCommit(void* self, sqlite3*, const char*, int pages) {
  auto* c = static_cast<Checkpointer*>(self);
  c->log_pages_.store(pages, std::memory_order_relaxed);
  if (pages >= c->pages_) {
    {
      std::lock_guard<std::mutex> lock(c->mu_);
      c->wanted_ = true;
    }
    c->cv_.notify_one();
  }
  return SQLITE_OK;
}

bool Checkpointer::emptyLog(std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!thread_.joinable() || stopping_) return false;
  uint64_t ticket = ++empty_requests_;
  empty_wanted_ = true;
  cv_.notify_one();
  bool answered = emptied_cv_.wait_for(lock, wait, [&] { return empty_answers_ >= ticket; });
  // Not begun yet: withdrawn, so no TRUNCATE takes the write lock once the writer has gone on.
  if (!answered) empty_wanted_ = false;
  bool ok = answered && empty_ok_;
  if (!ok) logs_not_emptied_.fetch_add(1, std::memory_order_relaxed);
  return ok;
}

// A PASSIVE copy first, which takes no lock: a TRUNCATE holds the write lock while it copies, so
// it is only run for what little is left. What a reader's old snapshot kept from being copied
// stays in the log until that reader is gone; copying it under the lock could keep the writer
// out for long.
bool Checkpointer::copyAndTruncate() {
  int log = 0, copied = 0;
  int rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
  ++checkpoints_;
  if (rc != SQLITE_OK || log - copied > kTruncateBacklogPages) return false;
  sqlite3_busy_timeout(db_, kReaderWaitMs);
  rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  sqlite3_busy_timeout(db_, 5000);
  if (rc != SQLITE_OK) return false;
  log_pages_.store(0, std::memory_order_relaxed);  // the hook hears of the log again at the next commit that writes
  logs_emptied_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void Checkpointer::run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::seconds(1), [this] { return wanted_ || empty_wanted_ || stopping_; });
    if (stopping_) break;
    if (empty_wanted_) {
      // The writer waits between transactions, so only readers can hold this up.
      empty_wanted_ = false;
      uint64_t answering = empty_requests_;
      lock.unlock();
      bool ok = copyAndTruncate();
      lock.lock();
      empty_answers_ = answering;
      empty_ok_ = ok;
      emptied_cv_.notify_all();
      continue;
    }
    wanted_ = false;
    lock.unlock();
    sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    ++checkpoints_;
    lock.lock();
  }
  lock.unlock();
  // The last one leaves the log empty, so the file alone holds everything; unless another
  // connection (a second daemon on the file) is writing: its own checkpoints copy the log, and
  // waiting out its transaction would only hold up this writer's close.
  sqlite3_busy_timeout(db_, kReaderWaitMs);
  sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
}

}  // namespace outrigger::traces
