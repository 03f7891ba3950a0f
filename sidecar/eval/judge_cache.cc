#include "eval/judge_cache.h"

#include <xxhash.h>

#include <cstdio>

namespace outrigger::eval {

namespace {

// The pass column of an answer whose judge left pass out: 1 and 0 are the judge's own verdicts.
constexpr int kPassNotGiven = -1;

}  // namespace

JudgeCache::~JudgeCache() {
  if (db_) sqlite3_close(db_);
}

bool JudgeCache::open(const std::string& path, std::string* error) {
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
    *error = "cannot open the judge cache " + path + ": " + sqlite3_errmsg(db_);
    return false;
  }
  sqlite3_busy_timeout(db_, 5000);
  const char* schema =
      "CREATE TABLE IF NOT EXISTS judge_answers (key TEXT PRIMARY KEY, score REAL NOT NULL, pass INTEGER NOT NULL, "
      "reason TEXT NOT NULL, created_at INTEGER NOT NULL DEFAULT (strftime('%s','now')))";
  char* msg = nullptr;
  if (sqlite3_exec(db_, schema, nullptr, nullptr, &msg) != SQLITE_OK) {
    *error = "cannot set up the judge cache " + path + ": " + (msg ? msg : "");
    sqlite3_free(msg);
    return false;
  }
  return true;
}

std::string JudgeCache::key(const std::string& route, const std::string& rubric, const std::string& input,
                            const std::string& output) {
  // Lengths go in first so that no two different tuples hash the same bytes. v1 rows stored a
  // pass derived from the threshold of their run as if the judge had said it: v2 keys skip them.
  std::string bytes = "judge-v2:" + std::to_string(route.size()) + ":" + std::to_string(rubric.size()) + ":" +
                      std::to_string(input.size()) + ":" + route + rubric + input + output;
  XXH128_hash_t h = XXH3_128bits(bytes.data(), bytes.size());
  char hex[33];
  std::snprintf(hex, sizeof hex, "%016llx%016llx", static_cast<unsigned long long>(h.high64),
                static_cast<unsigned long long>(h.low64));
  return hex;
}

std::optional<JudgeAnswer> JudgeCache::lookup(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  sqlite3_stmt* st = nullptr;
  std::optional<JudgeAnswer> found;
  if (sqlite3_prepare_v2(db_, "SELECT score, pass, reason FROM judge_answers WHERE key = ?", -1, &st, nullptr) != SQLITE_OK) {
    return found;
  }
  sqlite3_bind_text(st, 1, key.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(st) == SQLITE_ROW) {
    const unsigned char* reason = sqlite3_column_text(st, 2);
    int pass = sqlite3_column_int(st, 1);
    found = JudgeAnswer{sqlite3_column_double(st, 0), pass == 1, pass != kPassNotGiven,
                        reason ? reinterpret_cast<const char*>(reason) : ""};
    hits.fetch_add(1);
  }
  sqlite3_finalize(st);
  return found;
}

void JudgeCache::store(const std::string& key, const JudgeAnswer& answer) {
  std::lock_guard<std::mutex> lock(mu_);
  sqlite3_stmt* st = nullptr;
  const char* sql = "INSERT OR REPLACE INTO judge_answers (key, score, pass, reason) VALUES (?, ?, ?, ?)";
  if (sqlite3_prepare_v2(db_, sql, -1, &st, nullptr) != SQLITE_OK) return;
  sqlite3_bind_text(st, 1, key.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(st, 2, answer.score);
  sqlite3_bind_int(st, 3, !answer.pass_given ? kPassNotGiven : answer.pass ? 1 : 0);
  sqlite3_bind_text(st, 4, answer.reason.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_step(st);  // a failed store only costs a judge call on the next run
  sqlite3_finalize(st);
}

}  // namespace outrigger::eval
