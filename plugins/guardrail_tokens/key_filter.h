// A blocked Bloom filter over well-mixed 64-bit hashes: a key sets three bits of one 64-bit word,
// so asking costs one load. BpeEncoding puts one in front of each rank table larger than the CPU's
// L2 cache: in text that does not repeat (random strings, scripts without spaces) most spans a
// merge asks about are no token, and the filter, small enough to stay in cache, answers those
// without the table's cache miss. About 1% false positives (4-8 keys a word); never a false
// negative.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace outrigger::tokens {

class KeyFilter {
 public:
  // Sized for `keys` keys; forgets any added before.
  void reset(size_t keys) {
    size_t words = 2;  // at least one bit of the hash picks the word: a shift below 64
    unsigned bits = 1;
    while (words * 8 < keys) words <<= 1, ++bits;
    words_.assign(words, 0);
    shift_ = 64 - bits;
  }
  void add(uint64_t hash) { words_[wordOf(hash)] |= bitsOf(hash); }
  // False when no key with this hash was added.
  bool mayHold(uint64_t hash) const {
    uint64_t bits = bitsOf(hash);
    return (words_[wordOf(hash)] & bits) == bits;
  }

 private:
  // The word from the top bits, the bit positions from the middle ones: independent of each other
  // and of the low bits the tables take their slots from.
  size_t wordOf(uint64_t hash) const { return size_t(hash >> shift_); }
  static uint64_t bitsOf(uint64_t hash) {
    return 1ull << (hash >> 20 & 63) | 1ull << (hash >> 26 & 63) | 1ull << (hash >> 32 & 63);
  }

  std::vector<uint64_t> words_;
  unsigned shift_ = 63;
};

}  // namespace outrigger::tokens
