// Small RAII helpers over the SQLite C API, shared by the trace store's writer and its queries.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace outrigger::traces {

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Database = std::unique_ptr<sqlite3, SqliteCloser>;

// A prepared statement that finalizes itself; binds are 1-based as in SQLite.
class Statement {
 public:
  Statement() = default;
  Statement(sqlite3* db, std::string_view sql) {
    rc_ = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(Statement&& o) noexcept : stmt_(o.stmt_), rc_(o.rc_) { o.stmt_ = nullptr; }
  Statement& operator=(Statement&& o) noexcept {
    std::swap(stmt_, o.stmt_);
    std::swap(rc_, o.rc_);
    return *this;
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool ok() const { return rc_ == SQLITE_OK && stmt_ != nullptr; }
  sqlite3_stmt* get() const { return stmt_; }

  void text(int at, std::string_view v) {
    sqlite3_bind_text(stmt_, at, v.data() ? v.data() : "", static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  // Binds without a copy: `v` must stay valid and unchanged until run() or step() returns.
  void textUntilRun(int at, std::string_view v) {
    sqlite3_bind_text(stmt_, at, v.data() ? v.data() : "", static_cast<int>(v.size()), SQLITE_STATIC);
  }
  void integer(int at, int64_t v) { sqlite3_bind_int64(stmt_, at, v); }
  void real(int at, double v) { sqlite3_bind_double(stmt_, at, v); }
  int step() { return sqlite3_step(stmt_); }
  // Runs a statement that returns no rows and makes it ready to bind again.
  bool run() {
    int rc = sqlite3_step(stmt_);
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    return rc == SQLITE_DONE;
  }

  std::string columnText(int col) const {
    const unsigned char* p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }
  int64_t columnInt(int col) const { return sqlite3_column_int64(stmt_, col); }
  double columnReal(int col) const { return sqlite3_column_double(stmt_, col); }
  bool columnIsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_ = SQLITE_ERROR;
};

// Runs `sql` (any number of statements); on failure fills `error` with SQLite's message.
bool execute(sqlite3* db, const char* sql, std::string* error);

}  // namespace outrigger::traces
