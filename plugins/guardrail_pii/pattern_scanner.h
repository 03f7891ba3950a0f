// Every pattern of a guardrail compiled into one Vectorscan database, matched in one pass: over
// a whole text (block mode) or over a stream of chunks (stream mode, which reports exactly the
// matches block mode reports on the concatenation). Each match carries its pattern, its
// leftmost start (HS_FLAG_SOM_LEFTMOST) and its end.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct hs_database;
struct hs_scratch;
struct hs_stream;

namespace outrigger::pii {

struct Match {
  uint32_t pattern;
  uint64_t from, to;  // byte offsets from the start of the text (or stream)
};

struct PatternSource {
  std::string expression;
  bool caseless = false;
};

// The compiled databases. Immutable once built; share it between threads, each with its own
// Scratch.
class PatternDatabase {
 public:
  // Fails with a message naming the pattern when one does not compile. `max_widths` receives
  // each pattern's longest match in bytes (UINT32_MAX: unbounded).
  static std::shared_ptr<const PatternDatabase> compile(const std::vector<PatternSource>& patterns,
                                                        std::vector<uint32_t>* max_widths, std::string* error);
  ~PatternDatabase();
  hs_database* block() const { return block_; }
  hs_database* stream() const { return stream_; }
  size_t patternCount() const { return count_; }

 private:
  hs_database* block_ = nullptr;
  hs_database* stream_ = nullptr;
  size_t count_ = 0;
};

// One stream's matching state (stream mode): one per streamed answer.
class MatchStream {
 public:
  MatchStream() = default;
  ~MatchStream();
  MatchStream(const MatchStream&) = delete;
  MatchStream& operator=(const MatchStream&) = delete;
  bool isOpen() const { return stream_ != nullptr; }

 private:
  friend class Scanner;
  hs_stream* stream_ = nullptr;
};

// Matching state for one thread. Every call returns an empty string on success, or what failed
// (Vectorscan's error, or too many matches): the caller fails closed.
class Scanner {
 public:
  // `max_matches` bounds what one scan (or one chunk of a stream) may collect.
  Scanner(std::shared_ptr<const PatternDatabase> db, size_t max_matches);
  ~Scanner();
  Scanner(const Scanner&) = delete;
  Scanner& operator=(const Scanner&) = delete;

  // Appends the matches in `text` to `out`, in the order Vectorscan reports them (by end).
  std::string scan(std::string_view text, std::vector<Match>* out);

  // Stream mode: open, feed chunks (offsets continue from one chunk to the next), close.
  std::string open(MatchStream* stream);
  std::string feed(MatchStream& stream, std::string_view chunk, std::vector<Match>* out);
  std::string close(MatchStream& stream, std::vector<Match>* out);  // flushes matches that needed the end of data

  // Test hook: every later call fails as Vectorscan fails on a missing scratch (HS_INVALID),
  // through the same error path a real failure takes.
  void failForTest(bool fail) { fail_ = fail; }
  const std::string& allocError() const { return alloc_error_; }

 private:
  hs_scratch* scratchForCall() const;

  std::shared_ptr<const PatternDatabase> db_;
  hs_scratch* scratch_ = nullptr;
  size_t max_matches_;
  bool fail_ = false;
  std::string alloc_error_;
};

}  // namespace outrigger::pii
