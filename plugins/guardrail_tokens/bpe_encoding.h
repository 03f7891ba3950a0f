// Exact BPE token counts for OpenAI's o200k_base and cl100k_base encodings, identical to
// tiktoken's encode_ordinary (tests/tokens/identity_test.py checks ids on a generated corpus).
//
// Text is split into pieces by the encoding's own pattern (matched by hand, exactly as PCRE2
// would: pretokenizer.h; PCRE2 with JIT for any other pattern), then each piece is merged byte pair by
// byte pair, lowest rank first, as tiktoken's `_byte_pair_merge` does. Pieces up to
// kQuadraticMergeLimit bytes use tiktoken's rescanning loop; longer ones (a run of 10,000 'a's
// is one piece) a tournament tree over a linked list that yields the same merges in O(n log n).
// Each thread keeps memos of recent pieces of up to 128 bytes and their ids (up to 1.25 MB per
// encoding it used), so repeated words, identifiers and indentation skip the rank tables; a
// Bloom filter in front of each large rank table answers most spans that are no token from cache.
//
// The rank tables are compiled in (rank_data.S, from the npm `tiktoken` package, SHA-256-checked
// at build time). An encoding is built once per process on first use (~10-30 ms) and then
// shared, immutable, by every thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "key_filter.h"
#include "pretokenizer.h"

namespace outrigger::tokens {

class BpeEncoding {
 public:
  static constexpr size_t kQuadraticMergeLimit = 256;

  // The encoding called `name` ("o200k_base", "cl100k_base"), or nullptr. Thread-safe; the first
  // call for a name builds it. Never freed.
  static const BpeEncoding* byName(std::string_view name);
  // The names byName knows.
  static std::vector<std::string_view> names();

  ~BpeEncoding();
  BpeEncoding(const BpeEncoding&) = delete;
  BpeEncoding& operator=(const BpeEncoding&) = delete;

  std::string_view name() const { return name_; }
  // Number of ordinary ranks (special tokens excluded).
  size_t rankCount() const { return rank_count_; }
  // The encoding's split pattern, as its rank data gives it.
  std::string_view splitPattern() const { return split_pattern_; }
  // Whether the pattern is matched by hand (pretokenizer.h) rather than by PCRE2.
  bool splitsByHand() const { return piece_end_ != nullptr; }

  // Token ids of `text`, appended to *out. Special-token text ("<|endoftext|>") is ordinary text,
  // as in tiktoken's encode_ordinary. Invalid UTF-8 is first replaced by U+FFFD, each maximal
  // invalid subsequence by one, as Python's bytes.decode("utf-8", "replace") does. Any thread.
  void encode(std::string_view text, std::vector<uint32_t>* out) const;
  // Number of tokens encode would append, without building the list. Any thread.
  size_t count(std::string_view text) const;
  // The pieces the encoding's split pattern cuts `text` into (repaired to valid UTF-8 first).
  std::vector<std::string> pieces(std::string_view text) const;
  // How many there are: the split alone, which tokens_bench times to show how much of a count it is.
  size_t pieceCount(std::string_view text) const;
  // The bytes of token `rank` (an ordinary rank below rankCount()).
  std::string_view tokenBytes(uint32_t rank) const;
  // Forces the merge strategy for pieces longer than `limit` bytes (tests compare both).
  void setQuadraticMergeLimitForTest(size_t limit) { quadratic_limit_ = limit; }
  // An encoding of `tokens` (rank = position; the first 256 must be the single bytes) split by
  // `pattern` through PCRE2, without piece memos: tests give the merges vocabularies the real
  // ones do not have, and compare the hand-matched split with PCRE2's.
  static std::unique_ptr<BpeEncoding> fromTokensForTest(std::string_view pattern,
                                                       const std::vector<std::string>& tokens);

 private:
  // One open-addressing slot. A token of up to 8 bytes is its own key (bytes packed into `key`),
  // so a lookup touches one cache line; a longer one keys by hash and is checked against the
  // rank's bytes.
  struct Slot {
    uint64_t key;
    uint32_t rank_plus_one;  // 0: empty
    uint32_t size;
  };
  struct Scratch;  // per-thread match state, merge buffers and piece memos (bpe_encoding.cc)
  struct SlotsDeleter {
    void operator()(Slot* slots) const;
  };
  static constexpr size_t kNoMemo = SIZE_MAX;  // index_ of an encoding whose pieces are not memoized
  BpeEncoding(std::string_view name, size_t index, const uint8_t* blob, size_t size);
  explicit BpeEncoding(std::string test_blob);  // fromTokensForTest
  // Parses the rank data (rank_blob.h), builds the tables and takes the split pattern's hand
  // matcher when `hand_split` and there is one, else compiles the pattern.
  void load(const uint8_t* blob, size_t size, bool hand_split);
  void indexRanks();
  uint32_t rankOf(const uint8_t* p, size_t n) const;  // UINT32_MAX when `p[0..n)` is no token
  static uint64_t keyOf(const uint8_t* p, size_t n);
  static uint64_t slotHash(uint64_t key, size_t n);
  static uint32_t shortHash(uint32_t key, size_t n);
  template <class OnPiece>
  void split(std::string_view text, Scratch& scratch, OnPiece&& on_piece) const;
  template <class Emit>
  void forEachPiece(std::string_view text, Emit&& emit) const;
  size_t pieceTokens(Scratch& scratch, const uint8_t* p, size_t n, const uint32_t** ids) const;
  size_t mergeShort(Scratch& scratch, const uint8_t* p, size_t n) const;
  size_t mergeLong(Scratch& scratch, const uint8_t* p, size_t n) const;

  std::string name_;
  size_t index_;  // position among names(): which of a thread's piece memos is this encoding's
  std::string test_blob_;  // the rank data of an encoding made by fromTokensForTest
  std::string split_pattern_;
  const uint8_t* token_bytes_ = nullptr;
  std::vector<uint32_t> offsets_;  // rank_count_ + 1
  size_t rank_count_ = 0;
  size_t max_token_len_ = 0;
  uint32_t byte_rank_[256];
  std::vector<uint32_t> pair_rank_;  // 65536: the rank of every two-byte token (most lookups), L2-resident
  // The three- and four-byte tokens, the next most looked up, in a table of their own that
  // stays in cache: `key` is the bytes packed, `rank_and_size` the rank << 3 | size.
  struct ShortSlot {
    uint32_t key;
    uint32_t rank_and_size;  // 0: empty
  };
  std::vector<ShortSlot> short_table_;
  uint32_t short_shift_ = 0;  // slot = hash >> short_shift_
  std::unique_ptr<Slot[], SlotsDeleter> table_;  // on huge pages where the kernel allows
  uint64_t mask_ = 0;
  // What short_table_ and table_ hold, by slotHash: most spans asked about are no token, and
  // these answer that from cache.
  KeyFilter short_filter_, long_filter_;
  size_t quadratic_limit_ = kQuadraticMergeLimit;
  PieceEndFn piece_end_ = nullptr;  // the pattern's hand matcher
  void* pattern_ = nullptr;  // pcre2_code_8, JIT-compiled, when there is none
};

}  // namespace outrigger::tokens
