// Where a budget's spent amounts outlive the process: one SQLite file in WAL mode, one row per
// budget, key and bucket (`budget_spend`). Rows carry absolute amounts, so writing a row again
// is harmless and the newest write wins. Reservations in flight are never stored.
//
// Thread: one caller at a time (the ledger serialises its flushes); never a worker loop, because
// every call may wait on the disk.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct sqlite3;

namespace outrigger::budget {

struct SpendRow {
  std::string key;
  int64_t start = 0;  // the bucket's start, Unix seconds
  double usd = 0;
  double tokens = 0;
  bool soft_warned = false;  // the soft threshold was reported in this bucket
};

class SpendStore {
 public:
  virtual ~SpendStore() = default;
  // Appends the rows of `budget` whose bucket starts at or after `since` (Unix seconds).
  virtual bool load(const std::string& budget, int64_t since, std::vector<SpendRow>* rows, std::string* error) = 0;
  // Writes `rows` and deletes the rows of `budget` older than `prune_before` (0: none), in one
  // transaction.
  virtual bool write(const std::string& budget, const std::vector<SpendRow>& rows, int64_t prune_before,
                     int64_t now_ms, std::string* error) = 0;
};

class SqliteSpendStore final : public SpendStore {
 public:
  // Opens (creating when missing) the database at `path`, in WAL mode, with its table.
  static std::unique_ptr<SqliteSpendStore> open(const std::string& path, std::string* error);
  ~SqliteSpendStore() override;

  bool load(const std::string& budget, int64_t since, std::vector<SpendRow>* rows, std::string* error) override;
  bool write(const std::string& budget, const std::vector<SpendRow>& rows, int64_t prune_before, int64_t now_ms,
             std::string* error) override;
  const std::string& path() const { return path_; }

 private:
  SqliteSpendStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  bool exec(const char* sql, std::string* error);

  sqlite3* db_;
  std::string path_;
};

}  // namespace outrigger::budget
