// Rows of the trace store waiting for the next commit, as the values bound to their INSERT.
//
// A writer that kept one transaction open from its first record to its commit held SQLite's
// write lock for nearly the whole commit interval, and a second daemon on the same file waited
// out its busy timeout on every record. Recording the binds instead, and inserting them all at
// commit, holds the lock only while the batch is inserted.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "traces/sqlite_statement.h"

namespace outrigger::traces {

class PendingRows {
 public:
  // Starts a row for the statement numbered `statement` (the writer's own numbering).
  void begin(int statement) { rows_.push_back({statement, binds_.size(), 0}); }
  // The binds of the row begun last; 1-based, as Statement's. Text is copied.
  void text(int at, std::string_view v) {
    binds_.push_back({at, kText, 0, 0, arena_.size(), v.size()});
    arena_.append(v);
  }
  void integer(int at, int64_t v) { binds_.push_back({at, kInteger, v, 0, 0, 0}); }
  void real(int at, double v) { binds_.push_back({at, kReal, 0, v, 0, 0}); }
  void end() { rows_.back().binds = binds_.size() - rows_.back().first; }

  size_t rows() const { return rows_.size(); }
  // What they hold, the text and the bind records.
  size_t bytes() const { return arena_.size() + binds_.size() * sizeof(Bind) + rows_.size() * sizeof(Row); }

  // Binds each row to `statement_of(number)` in order and calls `insert(statement)`, which runs
  // it; stops at the first row `insert` returns false for. Returns the rows inserted.
  template <class StatementOf, class Insert>
  size_t replay(StatementOf statement_of, Insert insert) const {
    size_t done = 0;
    for (const Row& row : rows_) {
      Statement& s = statement_of(row.statement);
      for (size_t i = row.first; i < row.first + row.binds; ++i) {
        const Bind& b = binds_[i];
        if (b.type == kText) s.textUntilRun(b.at, std::string_view(arena_).substr(b.offset, b.size));
        else if (b.type == kInteger) s.integer(b.at, b.integer);
        else s.real(b.at, b.real);
      }
      if (!insert(s)) break;
      ++done;
    }
    return done;
  }

  // Empties it, keeping the memory for the next batch unless that grew past `keep_bytes`.
  void clear(size_t keep_bytes) {
    const bool shrink = bytes() > keep_bytes;
    arena_.clear();
    binds_.clear();
    rows_.clear();
    if (shrink) {
      std::string().swap(arena_);
      std::vector<Bind>().swap(binds_);
      std::vector<Row>().swap(rows_);
    }
  }

 private:
  enum Type : int { kText, kInteger, kReal };
  struct Bind {
    int at;
    Type type;
    int64_t integer;
    double real;
    size_t offset, size;  // of the text in arena_
  };
  struct Row {
    int statement;
    size_t first, binds;
  };
  std::string arena_;
  std::vector<Bind> binds_;
  std::vector<Row> rows_;
};

}  // namespace outrigger::traces
