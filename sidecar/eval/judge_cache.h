// The judge cache: a judge's answer stored under a hash of (judge route, rubric, case input,
// output), in SQLite, so a re-run of an unchanged case costs no judge call. What is stored is
// what the judge said: a pass it left out is not stored but decided again from the score on
// every lookup, so a changed threshold applies to cached answers too.
//
// Thread-safety: every method may be called from any thread (one connection behind a mutex;
// lookups are microseconds next to a judge call).
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <string>

namespace outrigger::eval {

struct JudgeAnswer {
  double score = 0;
  bool pass = false;
  bool pass_given = false;  // the judge said pass or fail; otherwise `pass` came from a threshold
  std::string reason;
};

class JudgeCache {
 public:
  ~JudgeCache();
  // Opens (creating) the cache file; false with `error` when it cannot.
  [[nodiscard]] bool open(const std::string& path, std::string* error);
  static std::string key(const std::string& route, const std::string& rubric, const std::string& input,
                         const std::string& output);
  // The stored answer; its `pass` is only meaningful when `pass_given` (the caller decides it
  // from the score otherwise).
  std::optional<JudgeAnswer> lookup(const std::string& key);
  void store(const std::string& key, const JudgeAnswer& answer);

  // Judge answers taken from the cache, and judge calls made (counted by the judge).
  std::atomic<uint64_t> hits{0}, calls{0};

 private:
  std::mutex mu_;
  sqlite3* db_ = nullptr;
};

}  // namespace outrigger::eval
