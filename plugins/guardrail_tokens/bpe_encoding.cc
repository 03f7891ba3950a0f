#include "bpe_encoding.h"

#include "common/utf8.h"
#include "pretokenizer.h"
#include "rank_blob.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#define XXH_INLINE_ALL  // the hash of a 9-128 byte key inlined, not a call into the shared library
#include <xxhash.h>

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <stdexcept>

// The blobs tiktoken_rankgen wrote (layout: rank_blob.h), assembled in by rank_data.S.
extern "C" {
extern const uint8_t outrigger_bpe_o200k_base[];
extern const uint8_t outrigger_bpe_o200k_base_end[];
extern const uint8_t outrigger_bpe_cl100k_base[];
extern const uint8_t outrigger_bpe_cl100k_base_end[];
}

namespace outrigger::tokens {
namespace {

constexpr uint32_t kNoRank = UINT32_MAX;
constexpr uint64_t kNoPair = UINT64_MAX;  // a tree leaf with no pair to merge

uint32_t read32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

struct BlobRef {
  std::string_view name;
  const uint8_t* begin;
  const uint8_t* end;
};

const BlobRef kBlobs[] = {
    {"o200k_base", outrigger_bpe_o200k_base, outrigger_bpe_o200k_base_end},
    {"cl100k_base", outrigger_bpe_cl100k_base, outrigger_bpe_cl100k_base_end},
};

// A token of up to 8 bytes packed little-endian into a word, as memcpy would, without a call:
// two overlapping 4-byte loads put the shared bytes at the same place.
uint64_t packSmall(const uint8_t* p, size_t n) {
  if (n >= 4) {
    uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + n - 4, 4);
    return lo | uint64_t(hi) << (8 * (n - 4));
  }
  uint64_t key = p[0];
  if (n > 1) key |= uint64_t(p[1]) << 8;
  if (n > 2) key |= uint64_t(p[2]) << 16;
  return key;
}

// Whether a memo is worth asking: text that does not repeat (random strings, hashes, base64) finds
// nothing in one, and each look costs a cache miss and, missing, a store that pushes rank data
// out of cache. After a sample of kSample looks with fewer than kMinHits hits, the memo is left
// alone for the next kSkip pieces, then sampled again. A memo that serves half its looks is
// worth asking; one that served an eighth still cost 8% on random text (memo off: 42.9 against
// 39.6 MB/s) and was slower than asking only at half on English and code too (about 112
// against 117-133 MB/s, runs alternated), where stretches of prose find less than code does.
class MemoSampler {
 public:
  bool worthAsking() {
    if (skip_ == 0) return true;
    --skip_;
    return false;
  }
  void record(bool hit) {
    hits_ += hit;
    if (++looks_ < kSample) return;
    if (hits_ < kMinHits) skip_ = kSkip;
    looks_ = hits_ = 0;
  }

 private:
  static constexpr uint32_t kSample = 512, kMinHits = 256, kSkip = 8192;
  uint32_t looks_ = 0, hits_ = 0, skip_ = 0;
};

// A per-thread memo of recent pieces of up to 24 bytes and their ids. Text repeats (common words,
// indentation, identifiers, the same system prompt on every request), so most pieces are found
// here without touching the rank tables. Direct-mapped: a new piece replaces whatever shared its
// slot. One memo per encoding and thread, 1 MB, made on the thread's first count: on this
// repository's English and C++, 16,384 slots miss 4% of pieces where 4,096 missed 12%, and a
// miss costs a merge (about 8% faster in all).
struct PieceMemo {
  static constexpr size_t kMaxBytes = 24, kMaxIds = 8, kSlotBits = 14;
  struct alignas(64) Entry {
    uint64_t key[kMaxBytes / 8];  // the piece's bytes, zero-padded
    uint32_t ids[kMaxIds];
    uint8_t size = 0;  // 0: empty
    uint8_t count = 0;
  };
  std::unique_ptr<Entry[]> entries{new Entry[size_t(1) << kSlotBits]()};
  MemoSampler sampler;

  // The piece's bytes, zero-padded, as words: loaded whole, since bytes stored one by one and
  // read back as words would wait for each store.
  static void keyOf(const uint8_t* p, size_t n, uint64_t (&key)[kMaxBytes / 8]) {
    size_t whole = 0;
    for (; (whole + 1) * 8 < n; ++whole) std::memcpy(&key[whole], p + 8 * whole, 8);
    key[whole] = packSmall(p + 8 * whole, n - 8 * whole);
  }
  // The slot of the piece whose zero-padded bytes are `key`.
  Entry& slotOf(const uint64_t (&key)[kMaxBytes / 8], size_t n) {
    uint64_t h = key[0] * 0x9E3779B97F4A7C15ull + key[1] * 0xC2B2AE3D27D4EB4Full + key[2] * 0x165667B19E3779F9ull + n;
    h = (h ^ (h >> 32)) * 0xD6E8FEB86659FD93ull;
    return entries[h >> (64 - kSlotBits)];
  }
};

// Pieces of 25 to 128 bytes (words of scripts written without spaces, long identifiers, runs of
// punctuation) in a second memo that compares the bytes themselves: such a piece costs many
// merges, and text that repeats repeats them too. 256 KB, made on the first such piece.
struct LongPieceMemo {
  static constexpr size_t kMaxBytes = 128, kMaxIds = 31, kSlotBits = 10;
  struct alignas(64) Entry {
    uint8_t bytes[kMaxBytes];
    uint32_t ids[kMaxIds];
    uint8_t size = 0;  // 0: empty
    uint8_t count = 0;
  };
  std::unique_ptr<Entry[]> entries{new Entry[size_t(1) << kSlotBits]()};
  MemoSampler sampler;

  Entry& slotOf(const uint8_t* p, size_t n) { return entries[XXH3_64bits(p, n) >> (64 - kSlotBits)]; }
};

// Where merging keeps its state (positions, ranks, the tree), so a piece costs no allocation.
struct Part {
  uint32_t start;  // first byte of the part
  uint32_t rank;   // rank of the part joined with the next one, or kNoRank
  uint32_t token;  // the part's own rank
};

// Scratch kept for pieces up to this many bytes; the buffers of a longer one are freed after it
// (its ids after the text is done).
constexpr size_t kKeptScratch = 1 << 16;

// PCRE2 match data with a JIT stack large enough for any run the patterns can backtrack over (a
// greedy class repeat keeps no per-character frames). Made on a thread's first split by pattern:
// the shipped encodings split by hand (pretokenizer.h) and never need it.
struct PatternScratch {
  pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
  pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
  pcre2_match_context* context = pcre2_match_context_create(nullptr);

  PatternScratch() { pcre2_jit_stack_assign(context, nullptr, stack); }
  ~PatternScratch() {
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(stack);
    pcre2_match_data_free(data);
  }
  PatternScratch(const PatternScratch&) = delete;
  PatternScratch& operator=(const PatternScratch&) = delete;
};

}  // namespace

// Per-thread state: merge buffers, the piece memos and, when a pattern splits, PCRE2's.
struct BpeEncoding::Scratch {
  std::unique_ptr<PatternScratch> pattern;
  std::vector<uint32_t> ids = std::vector<uint32_t>(kQuadraticMergeLimit + 2);  // the current piece's tokens
  std::vector<Part> parts = std::vector<Part>(kQuadraticMergeLimit + 2);
  std::vector<uint32_t> next, prev;  // mergeLong's linked list
  std::vector<uint64_t> tree;        // mergeLong's tournament tree
  std::vector<size_t> levels;        // where each of the tree's levels starts
  std::unique_ptr<PieceMemo> memos[std::size(kBlobs)];
  std::unique_ptr<LongPieceMemo> long_memos[std::size(kBlobs)];

  static Scratch& ofThisThread() {
    thread_local Scratch scratch;
    return scratch;
  }
  PatternScratch& patternScratch() {
    if (!pattern) pattern = std::make_unique<PatternScratch>();
    return *pattern;
  }
  PieceMemo& memo(size_t encoding) {
    if (!memos[encoding]) memos[encoding] = std::make_unique<PieceMemo>();
    return *memos[encoding];
  }
  LongPieceMemo& longMemo(size_t encoding) {
    if (!long_memos[encoding]) long_memos[encoding] = std::make_unique<LongPieceMemo>();
    return *long_memos[encoding];
  }
};

const BpeEncoding* BpeEncoding::byName(std::string_view name) {
  static std::once_flag once[std::size(kBlobs)];
  static const BpeEncoding* built[std::size(kBlobs)];
  for (size_t i = 0; i < std::size(kBlobs); ++i) {
    if (kBlobs[i].name != name) continue;
    std::call_once(once[i], [i] {
      built[i] = new BpeEncoding(kBlobs[i].name, i, kBlobs[i].begin, size_t(kBlobs[i].end - kBlobs[i].begin));
    });
    return built[i];
  }
  return nullptr;
}

std::vector<std::string_view> BpeEncoding::names() {
  std::vector<std::string_view> out;
  for (const auto& b : kBlobs) out.push_back(b.name);
  return out;
}

std::unique_ptr<BpeEncoding> BpeEncoding::fromTokensForTest(std::string_view pattern,
                                                          const std::vector<std::string>& tokens) {
  return std::unique_ptr<BpeEncoding>(new BpeEncoding(encodeRankBlob(pattern, {}, tokens)));
}

BpeEncoding::BpeEncoding(std::string_view name, size_t index, const uint8_t* blob, size_t size)
    : name_(name), index_(index) {
  load(blob, size, /*hand_split=*/true);
}

BpeEncoding::BpeEncoding(std::string test_blob) : name_("test"), index_(kNoMemo), test_blob_(std::move(test_blob)) {
  load(reinterpret_cast<const uint8_t*>(test_blob_.data()), test_blob_.size(), /*hand_split=*/false);
}

void BpeEncoding::load(const uint8_t* blob, size_t size, bool hand_split) {
  if (size < 24 || std::memcmp(blob, "ORBPE01", 8) != 0) throw std::runtime_error(name_ + ": rank data is damaged");
  rank_count_ = read32(blob + 8);
  max_token_len_ = read32(blob + 12);
  uint32_t pat_len = read32(blob + 16), specials = read32(blob + 20);
  const uint8_t* p = blob + 24;
  split_pattern_.assign(reinterpret_cast<const char*>(p), pat_len);
  p += pat_len;
  for (uint32_t i = 0; i < specials; ++i) p += 4 + read32(p) + 4;  // special tokens: not used by encode_ordinary
  offsets_.resize(rank_count_ + 1);
  for (size_t i = 0; i <= rank_count_; ++i, p += 4) offsets_[i] = read32(p);
  token_bytes_ = p;
  if (token_bytes_ + offsets_.back() > blob + size) throw std::runtime_error(name_ + ": rank data is truncated");

  indexRanks();

  if (hand_split) piece_end_ = pieceEndFor(split_pattern_);
  if (piece_end_) return;
  int err;
  PCRE2_SIZE err_offset;
  // PCRE2_NO_START_OPTIMIZE: every position starts a piece with these patterns (any character
  // is a letter, digit, space or other), so the start-of-match scan only costs time. It changes
  // no match of a pattern without (*COMMIT), (*PRUNE) or callouts.
  pcre2_code* code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(split_pattern_.data()), split_pattern_.size(),
                    PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK | PCRE2_NO_START_OPTIMIZE, &err, &err_offset, nullptr);
  if (!code) throw std::runtime_error(name_ + ": the split pattern does not compile");
  if (pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) != 0) {
    pcre2_code_free(code);
    throw std::runtime_error(name_ + ": PCRE2 has no JIT on this platform");
  }
  pattern_ = code;
}

// The lookup tables over the ranks: single bytes and pairs in direct tables, three- and four-byte
// tokens in short_table_ (small enough to stay in cache), the longer ones in table_.
void BpeEncoding::indexRanks() {
  // table_ is walked at random: on 2 MB pages its 2-4 MB cost one or two TLB entries, not a
  // thousand.
  constexpr size_t kHugePage = 2 << 20;
  size_t long_tokens = 0, short_tokens = 0;
  for (uint32_t rank = 0; rank < rank_count_; ++rank) {
    size_t size = tokenBytes(rank).size();
    long_tokens += size > 4;
    short_tokens += size == 3 || size == 4;
  }
  size_t capacity = kHugePage / sizeof(Slot);
  while (capacity < long_tokens * 3 / 2) capacity <<= 1;
  void* slots = std::aligned_alloc(kHugePage, capacity * sizeof(Slot));
  if (!slots) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  madvise(slots, capacity * sizeof(Slot), MADV_HUGEPAGE);
#endif
  std::memset(slots, 0, capacity * sizeof(Slot));
  table_.reset(static_cast<Slot*>(slots));
  mask_ = capacity - 1;
  std::fill(std::begin(byte_rank_), std::end(byte_rank_), kNoRank);
  pair_rank_.assign(65536, kNoRank);
  size_t short_capacity = 64;
  for (short_shift_ = 32 - 6; short_capacity < short_tokens * 3 / 2; short_capacity <<= 1) --short_shift_;
  short_table_.assign(short_capacity, ShortSlot{0, 0});
  short_filter_.reset(short_tokens);
  long_filter_.reset(long_tokens);
  for (uint32_t rank = 0; rank < rank_count_; ++rank) {
    std::string_view t = tokenBytes(rank);
    const auto* b = reinterpret_cast<const uint8_t*>(t.data());
    uint64_t key = keyOf(b, t.size());
    if (t.size() == 1) {
      byte_rank_[b[0]] = rank;
    } else if (t.size() == 2) {
      pair_rank_[size_t(b[0]) << 8 | b[1]] = rank;
    } else if (t.size() <= 4) {
      size_t j = shortHash(uint32_t(key), t.size()) >> short_shift_;
      while (short_table_[j].rank_and_size) j = (j + 1) & (short_table_.size() - 1);
      short_table_[j] = {uint32_t(key), rank << 3 | uint32_t(t.size())};
      short_filter_.add(slotHash(key, t.size()));
    } else {
      long_filter_.add(slotHash(key, t.size()));
      size_t i = slotHash(key, t.size()) & mask_;
      while (table_[i].rank_plus_one) i = (i + 1) & mask_;
      table_[i] = {key, rank + 1, uint32_t(t.size())};
    }
  }
}

BpeEncoding::~BpeEncoding() { pcre2_code_free(static_cast<pcre2_code*>(pattern_)); }

void BpeEncoding::SlotsDeleter::operator()(Slot* slots) const { std::free(slots); }

std::string_view BpeEncoding::tokenBytes(uint32_t rank) const {
  return {reinterpret_cast<const char*>(token_bytes_) + offsets_[rank], offsets_[rank + 1] - offsets_[rank]};
}

uint64_t BpeEncoding::keyOf(const uint8_t* p, size_t n) { return n > 8 ? XXH3_64bits(p, n) : packSmall(p, n); }

uint64_t BpeEncoding::slotHash(uint64_t key, size_t n) {
  uint64_t h = key ^ (uint64_t(n) << 59);  // MurmurHash3's finalizer: every key bit reaches the low bits
  h = (h ^ (h >> 33)) * 0xff51afd7ed558ccdull;
  h = (h ^ (h >> 33)) * 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 33);
}

uint32_t BpeEncoding::shortHash(uint32_t key, size_t n) { return (key ^ uint32_t(n) << 29) * 0x9E3779B1u; }

uint32_t BpeEncoding::rankOf(const uint8_t* p, size_t n) const {
  if (n == 1) return byte_rank_[p[0]];
  if (n == 2) return pair_rank_[size_t(p[0]) << 8 | p[1]];
  if (n - 3 <= 1) {
    uint32_t key = uint32_t(packSmall(p, n));
    if (!short_filter_.mayHold(slotHash(key, n))) return kNoRank;
    for (size_t j = shortHash(key, n) >> short_shift_;; j = (j + 1) & (short_table_.size() - 1)) {
      const ShortSlot& s = short_table_[j];
      if (!s.rank_and_size) return kNoRank;
      if (s.key == key && (s.rank_and_size & 7) == n) return s.rank_and_size >> 3;
    }
  }
  if (n > max_token_len_) return kNoRank;
  uint64_t key = keyOf(p, n);
  uint64_t hash = slotHash(key, n);
  if (!long_filter_.mayHold(hash)) return kNoRank;
  for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
    const Slot& s = table_[i];
    if (!s.rank_plus_one) return kNoRank;
    if (s.key != key || s.size != n) continue;
    uint32_t rank = s.rank_plus_one - 1;
    if (n <= 8 || std::memcmp(token_bytes_ + offsets_[rank], p, n) == 0) return rank;
  }
}


// tiktoken's _byte_pair_merge: parts[i] starts a part and holds the rank of merging it with the
// next one; each round merges the lowest rank (the leftmost among equals) and rescans. The ids
// go to scratch.ids; returns how many.
size_t BpeEncoding::mergeShort(Scratch& scratch, const uint8_t* p, size_t n) const {
  if (scratch.parts.size() < n + 1) scratch.parts.resize(n + 1);
  Part* parts = scratch.parts.data();
  uint32_t min_rank = kNoRank;
  size_t min_i = 0;
  for (size_t i = 0; i + 1 < n; ++i) {
    uint32_t r = pair_rank_[size_t(p[i]) << 8 | p[i + 1]];
    if (r < min_rank) min_rank = r, min_i = i;
    parts[i] = {uint32_t(i), r, byte_rank_[p[i]]};
  }
  parts[n - 1] = {uint32_t(n - 1), kNoRank, byte_rank_[p[n - 1]]};
  parts[n] = {uint32_t(n), kNoRank, kNoRank};  // the end
  // The first merges look up three- and four-byte spans: request all their slots at once, so
  // their cache misses overlap instead of following one another.
  for (size_t i = 0; i + 3 <= n; ++i) {
    __builtin_prefetch(&short_table_[shortHash(uint32_t(packSmall(p + i, 3)), 3) >> short_shift_]);
    if (i + 4 <= n) __builtin_prefetch(&short_table_[shortHash(uint32_t(packSmall(p + i, 4)), 4) >> short_shift_]);
  }
  size_t count = n + 1;                          // parts, the end included
  // The rank of part i joined with part i + 1 (both before the end).
  auto pairRank = [&](size_t i) {
    return i + 2 < count ? rankOf(p + parts[i].start, parts[i + 2].start - parts[i].start) : kNoRank;
  };
  while (min_rank != kNoRank) {
    size_t i = min_i;
    parts[i].token = min_rank;
    std::memmove(parts + i + 1, parts + i + 2, (count - i - 2) * sizeof(Part));
    --count;
    if (i > 0) parts[i - 1].rank = pairRank(i - 1);
    parts[i].rank = pairRank(i);
    min_rank = kNoRank;
    for (size_t j = 0; j + 1 < count; ++j) {
      if (parts[j].rank < min_rank) min_rank = parts[j].rank, min_i = j;
    }
  }
  if (scratch.ids.size() < count) scratch.ids.resize(count);
  for (size_t i = 0; i + 1 < count; ++i) scratch.ids[i] = parts[i].token;
  return count - 1;
}

// The same merges in O(n log n): parts are a linked list over byte positions (a part is named by
// its first byte), and a tournament tree over the positions holds (rank << 32 | position) of
// every part's pair, so its root is the lowest rank, leftmost first: exactly tiktoken's choice.
// Nodes have kFanout children, one cache line, so a 20,000-byte piece is five levels deep. A
// merge changes three leaves (the pair that merged, the part it absorbed, the part before); the
// nodes above the leaves a sweep of merges changed are refreshed when it stops.
size_t BpeEncoding::mergeLong(Scratch& scratch, const uint8_t* p, size_t n) const {
  constexpr size_t kFanout = 8;
  std::vector<uint32_t>& next = scratch.next;
  std::vector<uint32_t>& prev = scratch.prev;
  std::vector<uint64_t>& tree = scratch.tree;
  std::vector<size_t>& level = scratch.levels;  // where each level starts in `tree`, leaves first
  if (scratch.parts.size() < n + 1) scratch.parts.resize(n + 1);
  Part* parts = scratch.parts.data();  // start is unused: a part is named by its position
  level.clear();
  size_t nodes = 0;
  for (size_t width = n;; width = (width + kFanout - 1) / kFanout) {
    level.push_back(nodes);
    nodes += (width + kFanout - 1) / kFanout * kFanout;
    if (width == 1) break;
  }
  next.resize(n + 1);
  prev.resize(n + 1);
  tree.assign(nodes, kNoPair);
  for (uint32_t i = 0; i <= n; ++i) next[i] = i + 1, prev[i] = i - 1;
  for (uint32_t i = 0; i < n; ++i) {
    parts[i].token = byte_rank_[p[i]];
    uint32_t rank = i + 1 < n ? pair_rank_[size_t(p[i]) << 8 | p[i + 1]] : kNoRank;
    if (rank != kNoRank) tree[i] = uint64_t(rank) << 32 | i;
  }
  // Node x of level l is the least of its children, nodes kFanout * x.. of level l - 1.
  auto refresh = [&](size_t l, size_t x) {
    const uint64_t* c = &tree[level[l - 1] + kFanout * x];
    uint64_t m01 = std::min(c[0], c[1]), m23 = std::min(c[2], c[3]);
    uint64_t m45 = std::min(c[4], c[5]), m67 = std::min(c[6], c[7]);
    tree[level[l] + x] = std::min(std::min(m01, m23), std::min(m45, m67));
  };
  for (size_t l = 1, width = (n + kFanout - 1) / kFanout; l < level.size(); ++l, width = (width + kFanout - 1) / kFanout) {
    for (size_t x = 0; x < width; ++x) refresh(l, x);
  }
  const size_t root = level.back();
  auto pairOf = [&](uint32_t i) {
    uint32_t j = next[i];
    uint32_t rank = j < n ? rankOf(p + i, next[j] - i) : kNoRank;
    return rank != kNoRank ? uint64_t(rank) << 32 | i : kNoPair;
  };
  // The lowest rank stays the lowest while merges make no lower one (the pairs a merge makes
  // contain its token, so they cannot have its rank). Until one does, the next merge is the next
  // pair of that rank to the right: a sweep walks to it along the list instead of asking the tree,
  // and refreshes the tree's nodes over the leaves it changed once, when it stops. Long pieces
  // are repetitions, whose pairs of one rank lie side by side: 1.4-1.5x faster on them.
  constexpr size_t kSweepReach = 8;  // parts looked at on the right before the tree is asked
  auto rankAt = [&](uint32_t i) { return uint32_t(tree[i] >> 32); };  // kNoPair: kNoRank
  while (tree[root] != kNoPair) {
    const uint32_t rank = uint32_t(tree[root] >> 32);
    uint32_t i = uint32_t(tree[root]);
    size_t lo = i, hi = i;  // the leaves the sweep changed
    for (;;) {
      uint32_t j = next[i];
      parts[i].token = rank;
      next[i] = next[j];
      prev[next[j]] = i;
      tree[j] = kNoPair;
      tree[i] = pairOf(i);
      hi = std::max<size_t>(hi, j);
      uint32_t left = kNoRank;
      if (i > 0) {
        uint32_t before = prev[i];
        tree[before] = pairOf(before);
        lo = std::min<size_t>(lo, before);
        left = rankAt(before);
      }
      if (std::min(left, rankAt(i)) < rank) break;  // a lower rank is next: the tree has it
      uint32_t k = next[i];
      for (size_t step = 1; k < n && rankAt(k) != rank && step < kSweepReach; ++step) k = next[k];
      if (k >= n || rankAt(k) != rank) break;
      i = k;
    }
    for (size_t l = 1; l < level.size(); ++l) {
      lo /= kFanout, hi /= kFanout;
      for (size_t x = lo; x <= hi; ++x) refresh(l, x);
    }
  }
  size_t count = 0;
  for (uint32_t i = 0; i < n; i = next[i]) ++count;
  if (scratch.ids.size() < count) scratch.ids.resize(count);
  count = 0;
  for (uint32_t i = 0; i < n; i = next[i]) scratch.ids[count++] = parts[i].token;
  if (n > kKeptScratch) {
    next = {};
    prev = {};
    tree = {};
    scratch.parts.resize(kQuadraticMergeLimit + 2);
    scratch.parts.shrink_to_fit();
  }
  return count;
}

// The ids of one piece of two or more bytes: as one whole token, from a memo, or merged. A piece
// of up to 8 bytes is looked up whole first: most are one token (in English and code), and a
// rank slot is as near as a memo slot (3-5% faster there, the same on random text). Tests that
// force a merge strategy bypass the memos, which would answer with the other's ids.
size_t BpeEncoding::pieceTokens(Scratch& scratch, const uint8_t* p, size_t n, const uint32_t** ids) const {
  constexpr size_t kWholeFirst = 8;
  if (n <= kWholeFirst) {
    if (uint32_t whole = rankOf(p, n); whole != kNoRank) {
      scratch.ids[0] = whole;
      *ids = scratch.ids.data();
      return 1;
    }
    // Two or three bytes that are not one token make at most one merge, of the lower-ranked pair
    // (the left one among equals): no memo, no merge loop. Common in text that does not repeat.
    if (n <= 3) {
      uint32_t* out = scratch.ids.data();
      *ids = out;
      uint32_t left = pair_rank_[size_t(p[0]) << 8 | p[1]];
      uint32_t right = n == 3 ? pair_rank_[size_t(p[1]) << 8 | p[2]] : kNoRank;
      if (left == kNoRank && right == kNoRank) {
        for (size_t i = 0; i < n; ++i) out[i] = byte_rank_[p[i]];
        return n;
      }
      if (left <= right) {
        out[0] = left, out[1] = byte_rank_[p[2]];
      } else {
        out[0] = byte_rank_[p[0]], out[1] = right;
      }
      return 2;
    }
  }
  const bool memoize = quadratic_limit_ == kQuadraticMergeLimit && index_ != kNoMemo;
  PieceMemo::Entry* entry = nullptr;
  LongPieceMemo::Entry* long_entry = nullptr;
  uint64_t key[PieceMemo::kMaxBytes / 8] = {};
  if (memoize && n <= PieceMemo::kMaxBytes) {
    PieceMemo& memo = scratch.memo(index_);
    if (memo.sampler.worthAsking()) {
      PieceMemo::keyOf(p, n, key);
      entry = &memo.slotOf(key, n);
      bool hit = entry->size == n && std::equal(std::begin(key), std::end(key), entry->key);
      memo.sampler.record(hit);
      if (hit) {
        *ids = entry->ids;
        return entry->count;
      }
    }
  } else if (memoize && n <= LongPieceMemo::kMaxBytes) {
    LongPieceMemo& memo = scratch.longMemo(index_);
    if (memo.sampler.worthAsking()) {
      long_entry = &memo.slotOf(p, n);
      bool hit = long_entry->size == n && std::memcmp(long_entry->bytes, p, n) == 0;
      memo.sampler.record(hit);
      if (hit) {
        *ids = long_entry->ids;
        return long_entry->count;
      }
    }
  }
  size_t count;
  if (uint32_t whole = n > kWholeFirst ? rankOf(p, n) : kNoRank; whole != kNoRank) {
    scratch.ids[0] = whole;
    count = 1;
  } else {
    count = n <= quadratic_limit_ ? mergeShort(scratch, p, n) : mergeLong(scratch, p, n);
  }
  *ids = scratch.ids.data();
  if (entry && count <= PieceMemo::kMaxIds) {
    std::copy(std::begin(key), std::end(key), entry->key);
    std::copy(*ids, *ids + count, entry->ids);
    entry->size = uint8_t(n);
    entry->count = uint8_t(count);
  } else if (long_entry && count <= LongPieceMemo::kMaxIds) {
    std::memcpy(long_entry->bytes, p, n);
    std::copy(*ids, *ids + count, long_entry->ids);
    long_entry->size = uint8_t(n);
    long_entry->count = uint8_t(count);
  }
  return count;
}

// Calls on_piece(bytes, size) for each piece of `text` (repaired to valid UTF-8 first), in order.
template <class OnPiece>
void BpeEncoding::split(std::string_view text, Scratch& scratch, OnPiece&& on_piece) const {
  std::string repaired;
  if (!outrigger::validUtf8(text)) {
    repaired = outrigger::utf8Replaced(text);
    text = repaired;
  }
  const auto* s = reinterpret_cast<PCRE2_SPTR>(text.data());
  const size_t n = text.size();
  if (piece_end_) {
    for (size_t pos = 0, end; pos < n; pos = end) {
      end = piece_end_(s, n, pos);
      on_piece(s + pos, end - pos);
    }
    return;
  }
  const auto* code = static_cast<const pcre2_code*>(pattern_);
  PatternScratch& match = scratch.patternScratch();
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match.data);
  for (size_t pos = 0; pos < n;) {
    int rc = pcre2_jit_match(code, s, n, pos, 0, match.data, match.context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      // A matching error (resource limits; not seen with these patterns and an 8 MB JIT stack):
      // never fail the request, count the rest a byte a token, an upper bound.
      for (; pos < n; ++pos) on_piece(s + pos, 1);
      break;
    }
    if (ov[1] <= ov[0]) {  // the patterns never match empty; step over a character if one did
      pos = ov[0] + 1;
      while (pos < n && (s[pos] & 0xC0) == 0x80) ++pos;
      continue;
    }
    pos = ov[1];
    on_piece(s + ov[0], ov[1] - ov[0]);
  }
}

// Calls emit(ids, count) for each piece of `text`, in order.
template <class Emit>
void BpeEncoding::forEachPiece(std::string_view text, Emit&& emit) const {
  Scratch& scratch = Scratch::ofThisThread();
  split(text, scratch, [&](const uint8_t* piece, size_t size) {
    if (size == 1) {
      emit(&byte_rank_[piece[0]], 1);
      return;
    }
    const uint32_t* ids;
    size_t count = pieceTokens(scratch, piece, size, &ids);
    emit(ids, count);
  });
  if (scratch.ids.size() > kKeptScratch) {
    scratch.ids.resize(kQuadraticMergeLimit + 2);
    scratch.ids.shrink_to_fit();
  }
}

void BpeEncoding::encode(std::string_view text, std::vector<uint32_t>* out) const {
  forEachPiece(text, [&](const uint32_t* ids, size_t count) { out->insert(out->end(), ids, ids + count); });
}

size_t BpeEncoding::count(std::string_view text) const {
  size_t tokens = 0;
  forEachPiece(text, [&](const uint32_t*, size_t count) { tokens += count; });
  return tokens;
}

std::vector<std::string> BpeEncoding::pieces(std::string_view text) const {
  std::vector<std::string> out;
  split(text, Scratch::ofThisThread(), [&](const uint8_t* piece, size_t size) {
    out.emplace_back(reinterpret_cast<const char*>(piece), size);
  });
  return out;
}

size_t BpeEncoding::pieceCount(std::string_view text) const {
  size_t pieces = 0;
  split(text, Scratch::ofThisThread(), [&](const uint8_t*, size_t) { ++pieces; });
  return pieces;
}

}  // namespace outrigger::tokens
