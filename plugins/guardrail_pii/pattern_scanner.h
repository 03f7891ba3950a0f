// Every pattern of a guardrail compiled into Vectorscan databases and matched in one pass: over
// a whole text (block mode: a few databases, one per group of patterns, scanned in turn) or over
// a stream of chunks (stream mode: one database, which reports exactly the matches block mode
// reports on the concatenation).
// That pass reports where matches end. Tracking where they start (HS_FLAG_SOM_LEFTMOST) in the
// same pass made it 10 to 50 times slower, so starts come from a second database per pattern,
// run only over the few bytes before a reported end (Scanner::locate).
//
// Why groups, in block mode: Vectorscan compiles patterns without a literal (runs of digits)
// into one automaton that skips text fast, but in one database with literal-led patterns (keys,
// tokens) each became an engine of its own over every byte; on chat-sized prose three
// databases scanned one after another took a third of the time one database took. Stream
// mode keeps one database: a chunk of a streamed answer is a few dozen bytes, where the cost of
// a call, paid once per database, outweighs the scan.
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
  uint64_t from, to;  // byte offsets from the start of the text (or stream); the one pass leaves from 0
};

struct PatternSource {
  std::string expression;
  bool caseless = false;
  uint8_t group = 0;  // patterns of one group share a database
  // When set, the one pass reports a match only when `after` (an expression) matched at most
  // `after_within` bytes before it; locating its start still uses `expression` alone.
  std::string after;
  uint32_t after_within = 0;
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
  const std::vector<hs_database*>& blocks() const { return blocks_; }
  hs_database* stream() const { return stream_; }
  hs_database* starts(uint32_t pattern) const { return starts_[pattern]; }
  size_t patternCount() const { return starts_.size(); }

 private:
  std::vector<hs_database*> blocks_;  // per group, block mode
  hs_database* stream_ = nullptr;     // every pattern, stream mode
  std::vector<hs_database*> starts_;  // per pattern, block mode, leftmost start of match
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

  // Appends the matches in `text` to `out`, in the order Vectorscan reports them (by end),
  // without their starts.
  std::string scan(std::string_view text, std::vector<Match>* out);
  // Appends the matches of `pattern` inside `window` (which starts at absolute offset `base`,
  // and is read as if the text began there) whose end is in `ends`, with their leftmost start.
  std::string locate(uint32_t pattern, std::string_view window, uint64_t base, const std::vector<uint64_t>& ends,
                     std::vector<Match>* out);

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
