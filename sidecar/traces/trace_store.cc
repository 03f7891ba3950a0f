#include "traces/trace_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace outrigger::traces {
namespace {

// Times are Unix nanoseconds, durations microseconds, money USD. Text columns are never NULL, so
// filters compare with '=' and rows read back without NULL checks.
constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS requests (
  id INTEGER PRIMARY KEY,
  trace_id TEXT NOT NULL, trace_key INTEGER NOT NULL,
  span_id TEXT NOT NULL DEFAULT '', parent_span_id TEXT NOT NULL DEFAULT '',
  start_unix_ns INTEGER NOT NULL, duration_us INTEGER NOT NULL, first_chunk_us INTEGER NOT NULL DEFAULT 0,
  route TEXT NOT NULL DEFAULT '', provider TEXT NOT NULL DEFAULT '', model TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL, origin TEXT NOT NULL DEFAULT '', message TEXT NOT NULL DEFAULT '',
  finish_reason TEXT NOT NULL DEFAULT '', stream INTEGER NOT NULL DEFAULT 0, cache_hit INTEGER NOT NULL DEFAULT 0,
  tenant TEXT NOT NULL DEFAULT '', user TEXT NOT NULL DEFAULT '', session TEXT NOT NULL DEFAULT '',
  request_id TEXT NOT NULL DEFAULT '', prompt_id TEXT NOT NULL DEFAULT '', prompt_version TEXT NOT NULL DEFAULT '',
  tags TEXT NOT NULL DEFAULT '{}',
  input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
  cached_tokens INTEGER NOT NULL DEFAULT 0, reasoning_tokens INTEGER NOT NULL DEFAULT 0,
  cache_write_tokens INTEGER NOT NULL DEFAULT 0, cost_usd REAL NOT NULL DEFAULT 0,
  cost_unpriced INTEGER NOT NULL DEFAULT 0,
  verdict_flags INTEGER NOT NULL DEFAULT 0, verdicts TEXT NOT NULL DEFAULT '[]', spans TEXT NOT NULL DEFAULT '[]',
  capture TEXT NOT NULL DEFAULT 'none', prompt TEXT, answer TEXT, answer_tool_calls TEXT);
CREATE INDEX IF NOT EXISTS requests_by_start ON requests (start_unix_ns);
CREATE INDEX IF NOT EXISTS requests_by_trace ON requests (trace_key);
CREATE TABLE IF NOT EXISTS feedback (
  id INTEGER PRIMARY KEY, trace_id TEXT NOT NULL, score REAL NOT NULL, comment TEXT NOT NULL DEFAULT '',
  received_unix_ns INTEGER NOT NULL, tenant TEXT NOT NULL DEFAULT '', user TEXT NOT NULL DEFAULT '',
  session TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS feedback_by_trace ON feedback (trace_id);
CREATE INDEX IF NOT EXISTS feedback_by_time ON feedback (received_unix_ns);
CREATE VIEW IF NOT EXISTS spans AS
  SELECT r.id AS request, CAST(s.key AS INTEGER) AS seq, s.value ->> 'id' AS span_id,
         coalesce(s.value ->> 'parent', r.span_id) AS parent_span_id, s.value ->> 'stage' AS stage,
         s.value ->> 'instance' AS instance, s.value ->> 'outcome' AS outcome,
         r.start_unix_ns + (s.value ->> 'at_ns') AS start_unix_ns, s.value ->> 'us' AS duration_us,
         coalesce(s.value -> 'attrs', '{}') AS attributes
  FROM requests r, json_each(r.spans) s;
CREATE VIEW IF NOT EXISTS attempts AS
  SELECT request, seq, span_id, attributes ->> '$."outrigger.target"' AS target,
         attributes ->> '$."gen_ai.provider.name"' AS provider, attributes ->> '$."gen_ai.request.model"' AS model,
         attributes ->> '$."gen_ai.response.model"' AS response_model, attributes ->> '$."outrigger.status"' AS status,
         duration_us, CAST(attributes ->> '$."gen_ai.usage.input_tokens"' AS INTEGER) AS input_tokens,
         CAST(attributes ->> '$."gen_ai.usage.output_tokens"' AS INTEGER) AS output_tokens,
         CAST(attributes ->> '$."outrigger.cost_usd"' AS REAL) AS cost_usd,
         attributes ->> '$."outrigger.retry_reason"' AS retry_reason
  FROM spans WHERE stage = 'provider' AND attributes ->> '$."outrigger.target"' IS NOT NULL;
CREATE VIEW IF NOT EXISTS verdicts AS
  SELECT r.id AS request, CAST(v.key AS INTEGER) AS seq, v.value ->> 'guardrail' AS guardrail,
         v.value ->> 'verdict' AS verdict, v.value ->> 'reason' AS reason
  FROM requests r, json_each(r.verdicts) v;
)sql";

// Creates `dir` and its missing parents with mode 0750.
bool makeDirectories(const std::string& dir, std::string* error) {
  if (dir.empty()) return true;
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) return true;
  size_t slash = dir.rfind('/');
  if (slash != std::string::npos && slash > 0 && !makeDirectories(dir.substr(0, slash), error)) return false;
  if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) {
    *error = "cannot create " + dir + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

int userVersion(sqlite3* db) {
  Statement s(db, "PRAGMA user_version");
  return s.ok() && s.step() == SQLITE_ROW ? static_cast<int>(s.columnInt(0)) : -1;
}

}  // namespace

bool execute(sqlite3* db, const char* sql, std::string* error) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) == SQLITE_OK) return true;
  *error = message ? message : sqlite3_errmsg(db);
  sqlite3_free(message);
  return false;
}

Database openStoreForWriting(const std::string& path, std::string* error) {
  size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0 && !makeDirectories(path.substr(0, slash), error)) return nullptr;
  // The store holds prompts and answers where routes capture them: no access for other users.
  // SQLite would create it 0644; its -wal and -shm files take the database file's mode.
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    *error = "cannot open " + path + ": " + std::strerror(errno);
    return nullptr;
  }
  ::close(fd);
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  Database db(raw);
  if (rc != SQLITE_OK) {
    *error = "cannot open " + path + ": " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc));
    return nullptr;
  }
  // Another writer (a second daemon, or the old instance during a reload) is waited on briefly.
  sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);
  int version = userVersion(db.get());
  if (version > kSchemaVersion) {
    *error = path + " holds trace store schema " + std::to_string(version) + ", newer than this build's " +
             std::to_string(kSchemaVersion);
    return nullptr;
  }
  // 16 KiB pages: a commit writes fewer, larger pages (with the compact span encoding this took
  // trace_store_bench from about 17k to 36k records/s); the writer sets its page cache.
  // auto_vacuum and page_size must be chosen before the first table exists. WAL: commits do not block readers
  // (the CLI, the admin server) and cost one append; NORMAL sync may lose the last commits on
  // power loss, never the file. The WAL file is truncated back to 4 MiB after checkpoints.
  std::string why;
  // A store already at this schema needs none of the writes below: they take the write lock,
  // which a running writer holds for its whole commit interval (up to a minute), so a reload, an
  // `outrigger check` or a second daemon opening it would wait for it and fail. The connection's
  // own settings still apply.
  if (version == kSchemaVersion) {
    if (!execute(db.get(), "PRAGMA journal_mode = WAL", &why) || !execute(db.get(), "PRAGMA synchronous = NORMAL", &why) ||
        !execute(db.get(), "PRAGMA journal_size_limit = 4194304", &why)) {
      *error = path + ": " + why;
      return nullptr;
    }
    return db;
  }
  if (!execute(db.get(), "PRAGMA page_size = 16384", &why) ||
      !execute(db.get(), "PRAGMA auto_vacuum = INCREMENTAL", &why) ||
      !execute(db.get(), "PRAGMA journal_mode = WAL", &why) || !execute(db.get(), "PRAGMA synchronous = NORMAL", &why) ||
      !execute(db.get(), "PRAGMA journal_size_limit = 4194304", &why) || !execute(db.get(), kSchema, &why) ||
      !execute(db.get(), ("PRAGMA user_version = " + std::to_string(kSchemaVersion)).c_str(), &why)) {
    *error = path + ": " + why;
    return nullptr;
  }
  return db;
}

Database openStoreForReading(const std::string& path, std::string* error) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  Database db(raw);
  if (rc != SQLITE_OK) {
    *error = "cannot open the trace store " + path + ": " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc));
    return nullptr;
  }
  sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);
  int version = userVersion(db.get());
  if (version != kSchemaVersion) {
    *error = version < 0 ? path + " is not an SQLite database"
             : version == 0 ? path + " is not a trace store (no schema version)"
                            : path + " holds trace store schema " + std::to_string(version) + "; this build reads " +
                                  std::to_string(kSchemaVersion);
    return nullptr;
  }
  return db;
}

int64_t traceKey(std::string_view trace_id) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a, 64 bits
  for (unsigned char c : trace_id) h = (h ^ c) * 1099511628211ull;
  return static_cast<int64_t>(h);
}

std::string defaultStorePath() {
  if (const char* state = std::getenv("XDG_STATE_HOME"); state && state[0] == '/') {
    return std::string(state) + "/outrigger/traces.db";
  }
  if (const char* home = std::getenv("HOME"); home && home[0] == '/') {
    return std::string(home) + "/.local/state/outrigger/traces.db";
  }
  return {};
}

}  // namespace outrigger::traces
