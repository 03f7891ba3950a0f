#include "spend_store.h"

#include <sqlite3.h>

namespace outrigger::budget {
namespace {

constexpr char kSchema[] =
    "CREATE TABLE IF NOT EXISTS budget_spend ("
    " budget TEXT NOT NULL, key TEXT NOT NULL, window_start INTEGER NOT NULL,"
    " usd REAL NOT NULL DEFAULT 0, tokens REAL NOT NULL DEFAULT 0,"
    " soft_warned INTEGER NOT NULL DEFAULT 0, updated_unix_ms INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (budget, key, window_start)) WITHOUT ROWID";

constexpr char kUpsert[] =
    "INSERT INTO budget_spend (budget, key, window_start, usd, tokens, soft_warned, updated_unix_ms)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (budget, key, window_start) DO UPDATE SET"
    " usd = excluded.usd, tokens = excluded.tokens, soft_warned = excluded.soft_warned,"
    " updated_unix_ms = excluded.updated_unix_ms";

// A prepared statement that finalizes itself.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  bool ok() const { return rc_ == SQLITE_OK; }
  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

void bindText(sqlite3_stmt* s, int at, const std::string& text) {
  sqlite3_bind_text(s, at, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

}  // namespace

std::unique_ptr<SqliteSpendStore> SqliteSpendStore::open(const std::string& path, std::string* error) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    *error = "cannot open " + path + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    return nullptr;
  }
  std::unique_ptr<SqliteSpendStore> store(new SqliteSpendStore(db, path));
  // WAL: the flusher's commits do not block a reader (`sqlite3 file 'select ...'`), and a commit
  // costs one append to the log; NORMAL sync loses at most the last commits on power loss, never
  // the file. A busy database (another process's long read) is waited on briefly, on the
  // flusher's thread.
  sqlite3_busy_timeout(db, 2000);
  Statement mode(db, "PRAGMA journal_mode = WAL");
  if (!mode.ok() || sqlite3_step(mode.get()) != SQLITE_ROW) {
    *error = "cannot set WAL mode on " + path + ": " + sqlite3_errmsg(db);
    return nullptr;
  }
  std::string got = reinterpret_cast<const char*>(sqlite3_column_text(mode.get(), 0));
  if (got != "wal") {
    *error = path + " cannot be put in WAL mode (journal_mode is " + got + ")";
    return nullptr;
  }
  if (!store->exec("PRAGMA synchronous = NORMAL", error) || !store->exec(kSchema, error)) {
    *error = path + ": " + *error;
    return nullptr;
  }
  return store;
}

SqliteSpendStore::~SqliteSpendStore() { sqlite3_close(db_); }

bool SqliteSpendStore::exec(const char* sql, std::string* error) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) == SQLITE_OK) return true;
  *error = message ? message : sqlite3_errmsg(db_);
  sqlite3_free(message);
  return false;
}

bool SqliteSpendStore::load(const std::string& budget, int64_t since, std::vector<SpendRow>* rows, std::string* error) {
  Statement q(db_, "SELECT key, window_start, usd, tokens, soft_warned FROM budget_spend WHERE budget = ?1 AND window_start >= ?2");
  if (!q.ok()) {
    *error = sqlite3_errmsg(db_);
    return false;
  }
  bindText(q.get(), 1, budget);
  sqlite3_bind_int64(q.get(), 2, since);
  int rc;
  while ((rc = sqlite3_step(q.get())) == SQLITE_ROW) {
    SpendRow row;
    const unsigned char* key = sqlite3_column_text(q.get(), 0);
    row.key.assign(key ? reinterpret_cast<const char*>(key) : "", sqlite3_column_bytes(q.get(), 0));
    row.start = sqlite3_column_int64(q.get(), 1);
    row.usd = sqlite3_column_double(q.get(), 2);
    row.tokens = sqlite3_column_double(q.get(), 3);
    row.soft_warned = sqlite3_column_int(q.get(), 4) != 0;
    rows->push_back(std::move(row));
  }
  if (rc != SQLITE_DONE) {
    *error = sqlite3_errmsg(db_);
    return false;
  }
  return true;
}

bool SqliteSpendStore::write(const std::string& budget, const std::vector<SpendRow>& rows, int64_t prune_before,
                             int64_t now_ms, std::string* error) {
  if (!exec("BEGIN IMMEDIATE", error)) return false;
  bool ok = true;
  {
    Statement up(db_, kUpsert);
    ok = up.ok();
    for (size_t i = 0; ok && i < rows.size(); ++i) {
      const SpendRow& r = rows[i];
      sqlite3_reset(up.get());
      bindText(up.get(), 1, budget);
      bindText(up.get(), 2, r.key);
      sqlite3_bind_int64(up.get(), 3, r.start);
      sqlite3_bind_double(up.get(), 4, r.usd);
      sqlite3_bind_double(up.get(), 5, r.tokens);
      sqlite3_bind_int(up.get(), 6, r.soft_warned ? 1 : 0);
      sqlite3_bind_int64(up.get(), 7, now_ms);
      ok = sqlite3_step(up.get()) == SQLITE_DONE;
    }
    if (ok && prune_before > 0) {
      Statement del(db_, "DELETE FROM budget_spend WHERE budget = ?1 AND window_start < ?2");
      ok = del.ok();
      if (ok) {
        bindText(del.get(), 1, budget);
        sqlite3_bind_int64(del.get(), 2, prune_before);
        ok = sqlite3_step(del.get()) == SQLITE_DONE;
      }
    }
  }
  if (!ok) {
    *error = sqlite3_errmsg(db_);
    std::string ignored;
    exec("ROLLBACK", &ignored);
    return false;
  }
  return exec("COMMIT", error);
}

}  // namespace outrigger::budget
