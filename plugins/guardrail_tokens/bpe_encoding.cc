#include "bpe_encoding.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <mutex>
#include <queue>
#include <stdexcept>

// The blobs tiktoken_rankgen wrote (layout: rankgen.cc), assembled in by rank_data.S.
extern "C" {
extern const uint8_t outrigger_bpe_o200k_base[];
extern const uint8_t outrigger_bpe_o200k_base_end[];
extern const uint8_t outrigger_bpe_cl100k_base[];
extern const uint8_t outrigger_bpe_cl100k_base_end[];
}

namespace outrigger::tokens {
namespace {

constexpr uint32_t kNoRank = UINT32_MAX;

uint32_t read32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Per-thread PCRE2 match state: match data, and a JIT stack large enough for any run the
// patterns can backtrack over (a greedy class repeat keeps no per-character frames).
struct MatchScratch {
  pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
  pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
  pcre2_match_context* context = pcre2_match_context_create(nullptr);
  MatchScratch() { pcre2_jit_stack_assign(context, nullptr, stack); }
  ~MatchScratch() {
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(stack);
    pcre2_match_data_free(data);
  }
};

MatchScratch& matchScratch() {
  thread_local MatchScratch scratch;
  return scratch;
}

// Length of the well-formed UTF-8 sequence at s[0..n) (1-4), or 0 when it is not one; *subpart
// gets the length of its maximal invalid prefix (at least 1), the unit Python replaces by one
// U+FFFD.
size_t utf8Sequence(const uint8_t* s, size_t n, size_t* subpart) {
  uint8_t b = s[0];
  *subpart = 1;
  if (b < 0x80) return 1;
  size_t need;
  uint8_t lo = 0x80, hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) {
    need = 1;
  } else if (b >= 0xE0 && b <= 0xEF) {
    need = 2;
    if (b == 0xE0) lo = 0xA0;
    if (b == 0xED) hi = 0x9F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    need = 3;
    if (b == 0xF0) lo = 0x90;
    if (b == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  for (size_t i = 1; i <= need; ++i) {
    if (i >= n || s[i] < lo || s[i] > hi) {
      *subpart = i;
      return 0;
    }
    lo = 0x80;
    hi = 0xBF;
  }
  return need + 1;
}

bool validUtf8(std::string_view text) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  size_t n = text.size(), i = 0, bad;
  while (i < n) {
    if (s[i] < 0x80) {
      ++i;
      continue;
    }
    size_t len = utf8Sequence(s + i, n - i, &bad);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string replaceInvalidUtf8(std::string_view text) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  std::string out;
  out.reserve(text.size() + 16);
  for (size_t i = 0, bad; i < text.size();) {
    size_t len = utf8Sequence(s + i, text.size() - i, &bad);
    if (len) {
      out.append(text.data() + i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      i += bad;
    }
  }
  return out;
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

}  // namespace

const BpeEncoding* BpeEncoding::byName(std::string_view name) {
  static std::once_flag once[std::size(kBlobs)];
  static const BpeEncoding* built[std::size(kBlobs)];
  for (size_t i = 0; i < std::size(kBlobs); ++i) {
    if (kBlobs[i].name != name) continue;
    std::call_once(once[i], [i] {
      built[i] = new BpeEncoding(kBlobs[i].name, kBlobs[i].begin, size_t(kBlobs[i].end - kBlobs[i].begin));
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

BpeEncoding::BpeEncoding(std::string_view name, const uint8_t* blob, size_t size) : name_(name) {
  if (size < 24 || std::memcmp(blob, "ORBPE01", 8) != 0) throw std::runtime_error(name_ + ": rank data is damaged");
  rank_count_ = read32(blob + 8);
  max_token_len_ = read32(blob + 12);
  uint32_t pat_len = read32(blob + 16), specials = read32(blob + 20);
  const uint8_t* p = blob + 24;
  std::string pattern(reinterpret_cast<const char*>(p), pat_len);
  p += pat_len;
  for (uint32_t i = 0; i < specials; ++i) p += 4 + read32(p) + 4;  // special tokens: not used by encode_ordinary
  offsets_.resize(rank_count_ + 1);
  for (size_t i = 0; i <= rank_count_; ++i, p += 4) offsets_[i] = read32(p);
  token_bytes_ = p;
  if (token_bytes_ + offsets_.back() > blob + size) throw std::runtime_error(name_ + ": rank data is truncated");

  size_t capacity = 1;
  while (capacity < rank_count_ * 2) capacity <<= 1;
  table_.assign(capacity, Slot{0, 0, 0});
  mask_ = capacity - 1;
  std::fill(std::begin(byte_rank_), std::end(byte_rank_), kNoRank);
  pair_rank_.assign(65536, kNoRank);
  for (uint32_t rank = 0; rank < rank_count_; ++rank) {
    std::string_view t = tokenBytes(rank);
    const auto* b = reinterpret_cast<const uint8_t*>(t.data());
    uint64_t key = keyOf(b, t.size());
    size_t i = slotHash(key, t.size()) & mask_;
    while (table_[i].rank_plus_one) i = (i + 1) & mask_;
    table_[i] = {key, rank + 1, uint32_t(t.size())};
    if (t.size() == 1) byte_rank_[b[0]] = rank;
    if (t.size() == 2) pair_rank_[size_t(b[0]) << 8 | b[1]] = rank;
  }

  int err;
  PCRE2_SIZE err_offset;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &err, &err_offset, nullptr);
  if (!code) throw std::runtime_error(name_ + ": the split pattern does not compile");
  if (pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) != 0) {
    pcre2_code_free(code);
    throw std::runtime_error(name_ + ": PCRE2 has no JIT on this platform");
  }
  pattern_ = code;
}

BpeEncoding::~BpeEncoding() { pcre2_code_free(static_cast<pcre2_code*>(pattern_)); }

std::string_view BpeEncoding::tokenBytes(uint32_t rank) const {
  return {reinterpret_cast<const char*>(token_bytes_) + offsets_[rank], offsets_[rank + 1] - offsets_[rank]};
}

uint64_t BpeEncoding::keyOf(const uint8_t* p, size_t n) {
  if (n > 8) return XXH3_64bits(p, n);
  uint64_t key = 0;
  std::memcpy(&key, p, n);
  return key;
}

uint64_t BpeEncoding::slotHash(uint64_t key, size_t n) {
  uint64_t h = key ^ (uint64_t(n) << 59);  // MurmurHash3's finalizer: every key bit reaches the low bits
  h = (h ^ (h >> 33)) * 0xff51afd7ed558ccdull;
  h = (h ^ (h >> 33)) * 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 33);
}

uint32_t BpeEncoding::rankOf(const uint8_t* p, size_t n) const {
  if (n == 2) return pair_rank_[size_t(p[0]) << 8 | p[1]];
  if (n > max_token_len_) return kNoRank;
  uint64_t key = keyOf(p, n);
  for (size_t i = slotHash(key, n) & mask_;; i = (i + 1) & mask_) {
    const Slot& s = table_[i];
    if (!s.rank_plus_one) return kNoRank;
    if (s.key != key || s.size != n) continue;
    uint32_t rank = s.rank_plus_one - 1;
    if (n <= 8 || std::memcmp(token_bytes_ + offsets_[rank], p, n) == 0) return rank;
  }
}

// tiktoken's _byte_pair_merge: parts[i] starts a part and holds the rank of merging it with the
// next one; each round merges the lowest rank (the leftmost among equals) and rescans.
template <class Emit>
void BpeEncoding::mergeShort(const uint8_t* p, size_t n, Emit&& emit) const {
  struct Part {
    uint32_t start, rank;
  };
  thread_local std::vector<Part> parts;
  parts.clear();
  uint32_t min_rank = kNoRank;
  size_t min_i = 0;
  for (size_t i = 0; i + 1 < n; ++i) {
    uint32_t r = rankOf(p + i, 2);
    if (r < min_rank) min_rank = r, min_i = i;
    parts.push_back({uint32_t(i), r});
  }
  parts.push_back({uint32_t(n - 1), kNoRank});
  parts.push_back({uint32_t(n), kNoRank});
  auto rankAt = [&](size_t i) {
    return i + 3 < parts.size() ? rankOf(p + parts[i].start, parts[i + 3].start - parts[i].start) : kNoRank;
  };
  while (min_rank != kNoRank) {
    size_t i = min_i;
    if (i > 0) parts[i - 1].rank = rankAt(i - 1);
    parts[i].rank = rankAt(i);
    parts.erase(parts.begin() + long(i) + 1);
    min_rank = kNoRank;
    for (size_t j = 0; j + 1 < parts.size(); ++j) {
      if (parts[j].rank < min_rank) min_rank = parts[j].rank, min_i = j;
    }
  }
  for (size_t i = 0; i + 1 < parts.size(); ++i) emit(p + parts[i].start, parts[i + 1].start - parts[i].start, kNoRank);
}

// The same merges in O(n log n): parts are a linked list over byte positions (a part is named by
// its first byte), a min-heap holds (rank, position) of every pair, and an entry is acted on only
// when it still describes its part. Popping the lowest (rank, position) is exactly tiktoken's
// choice of the lowest rank, leftmost first.
template <class Emit>
void BpeEncoding::mergeLong(const uint8_t* p, size_t n, Emit&& emit) const {
  std::vector<uint32_t> next(n + 1), prev(n + 1), rank(n + 1, kNoRank);
  for (size_t i = 0; i <= n; ++i) next[i] = uint32_t(i + 1), prev[i] = uint32_t(i) - 1;
  auto pairRank = [&](uint32_t i) {
    uint32_t j = next[i];
    if (j >= n) return kNoRank;
    return rankOf(p + i, next[j] - i);
  };
  std::vector<uint64_t> heap;
  heap.reserve(n);
  for (uint32_t i = 0; i + 1 < n; ++i) {
    rank[i] = pairRank(i);
    if (rank[i] != kNoRank) heap.push_back(uint64_t(rank[i]) << 32 | i);
  }
  std::priority_queue<uint64_t, std::vector<uint64_t>, std::greater<>> queue(std::greater<>(), std::move(heap));
  std::vector<uint8_t> alive(n + 1, 1);
  while (!queue.empty()) {
    uint64_t key = queue.top();
    queue.pop();
    uint32_t i = uint32_t(key), r = uint32_t(key >> 32);
    if (!alive[i] || rank[i] != r) continue;
    uint32_t j = next[i];
    alive[j] = 0;
    next[i] = next[j];
    prev[next[j]] = i;
    if ((rank[i] = pairRank(i)) != kNoRank) queue.push(uint64_t(rank[i]) << 32 | i);
    if (i > 0) {
      uint32_t before = prev[i];
      if ((rank[before] = pairRank(before)) != kNoRank) queue.push(uint64_t(rank[before]) << 32 | before);
    }
  }
  for (uint32_t i = 0; i < n; i = next[i]) emit(p + i, next[i] - i, kNoRank);
}

template <class Emit>
void BpeEncoding::mergePiece(const uint8_t* p, size_t n, Emit&& emit) const {
  if (n == 1) return emit(p, 1, byte_rank_[p[0]]);
  if (uint32_t whole = rankOf(p, n); whole != kNoRank) return emit(p, n, whole);
  if (n <= quadratic_limit_) return mergeShort(p, n, emit);
  mergeLong(p, n, emit);
}

template <class Emit>
void BpeEncoding::forEachToken(std::string_view text, Emit&& emit) const {
  std::string repaired;
  if (!validUtf8(text)) {
    repaired = replaceInvalidUtf8(text);
    text = repaired;
  }
  MatchScratch& scratch = matchScratch();
  const auto* code = static_cast<const pcre2_code*>(pattern_);
  const auto* s = reinterpret_cast<PCRE2_SPTR>(text.data());
  const size_t n = text.size();
  for (size_t pos = 0; pos < n;) {
    int rc = pcre2_jit_match(code, s, n, pos, 0, scratch.data, scratch.context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      // A matching error (resource limits; not seen with these patterns and an 8 MB JIT stack):
      // never fail the request, count the rest a byte a token, an upper bound.
      for (; pos < n; ++pos) emit(s + pos, 1, byte_rank_[s[pos]]);
      break;
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(scratch.data);
    if (ov[1] <= ov[0]) {  // the patterns never match empty; step over a character if one did
      pos = ov[0] + 1;
      while (pos < n && (s[pos] & 0xC0) == 0x80) ++pos;
      continue;
    }
    mergePiece(s + ov[0], ov[1] - ov[0], emit);
    pos = ov[1];
  }
}

void BpeEncoding::encode(std::string_view text, std::vector<uint32_t>* out) const {
  forEachToken(text, [&](const uint8_t* p, size_t n, uint32_t rank) {
    out->push_back(rank != kNoRank ? rank : rankOf(p, n));
  });
}

size_t BpeEncoding::count(std::string_view text) const {
  size_t tokens = 0;
  forEachToken(text, [&](const uint8_t*, size_t, uint32_t) { ++tokens; });
  return tokens;
}

}  // namespace outrigger::tokens
