// The BPE encoder on known strings (ids from Python tiktoken 0.14.0's encode_ordinary), its two
// merge strategies, its per-thread piece memo, invalid UTF-8, and bounded cost on adversarial
// repetitions.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bpe_encoding.h"

using outrigger::tokens::BpeEncoding;

namespace {

std::vector<uint32_t> ids(const char* encoding, std::string_view text) {
  std::vector<uint32_t> out;
  BpeEncoding::byName(encoding)->encode(text, &out);
  return out;
}

using Ids = std::vector<uint32_t>;

}  // namespace

TEST_CASE("o200k_base ids match tiktoken on known strings") {
  CHECK(ids("o200k_base", "hello world") == Ids{24912, 2375});
  CHECK(ids("o200k_base", "Hello, world! I'm here.") == Ids{13225, 11, 2375, 0, 5477, 2105, 13});
  CHECK(ids("o200k_base", "    indented\n\n") == Ids{271, 1383, 23537, 279});
  CHECK(ids("o200k_base", "👨‍👩‍👧‍👦") == Ids{28823, 101, 2524, 28823, 102, 2524, 28823, 100, 2524, 28823, 99});
  CHECK(ids("o200k_base", "1234567") == Ids{7633, 19354, 22});
  CHECK(ids("o200k_base", "こんにちは世界") == Ids{95839, 28428});
  CHECK(ids("o200k_base", "<|endoftext|>") == Ids{27, 91, 419, 1440, 919, 91, 29});
  CHECK(ids("o200k_base", std::string(40, 'a')) == Ids{117525, 117525, 117525, 117525, 117525});
  CHECK(BpeEncoding::byName("o200k_base")->count(std::string(1000, 'a')) == 125);
  CHECK(BpeEncoding::byName("o200k_base")->rankCount() == 199998);
}

TEST_CASE("cl100k_base ids match tiktoken on known strings") {
  CHECK(ids("cl100k_base", "hello world") == Ids{15339, 1917});
  CHECK(ids("cl100k_base", "Hello, world! I'm here.") == Ids{9906, 11, 1917, 0, 358, 2846, 1618, 13});
  CHECK(ids("cl100k_base", "    indented\n\n") == Ids{262, 1280, 16243, 271});
  CHECK(ids("cl100k_base", "こんにちは世界") == Ids{90115, 3574, 244, 98220});
  CHECK(ids("cl100k_base", "<|endoftext|>") == Ids{27, 91, 8862, 728, 428, 91, 29});
  CHECK(ids("cl100k_base", std::string(40, 'a')) == Ids{70540, 70540, 70540, 70540, 70540});
  CHECK(BpeEncoding::byName("cl100k_base")->count(std::string(1000, 'a')) == 125);
  CHECK(BpeEncoding::byName("cl100k_base")->rankCount() == 100256);
}

TEST_CASE("unknown encodings are refused, empty text has no tokens") {
  CHECK(BpeEncoding::byName("p50k_base") == nullptr);
  CHECK(BpeEncoding::byName("o200k_base")->count("") == 0);
  CHECK(BpeEncoding::names().size() == 2);
}

TEST_CASE("the ids decode back to the text") {
  const BpeEncoding* enc = BpeEncoding::byName("o200k_base");
  std::string text = "Ünïcödé, emoji 🫱🏻‍🫲🏿 and code: for (int i = 0; i < n; ++i) {}\n\t\t  x";
  std::string back;
  for (uint32_t id : ids("o200k_base", text)) back += enc->tokenBytes(id);
  CHECK(back == text);
}

TEST_CASE("the tree merge gives the rescanning merge's ids on random words") {
  std::mt19937 rng(7);
  for (const char* name : {"o200k_base", "cl100k_base"}) {
    auto* enc = const_cast<BpeEncoding*>(BpeEncoding::byName(name));
    for (int round = 0; round < 200; ++round) {
      std::string alphabet = round % 2 ? "abcdefgh" : "thequickbrownfx";
      std::string word;
      size_t len = 1 + rng() % 600;
      for (size_t i = 0; i < len; ++i) word += alphabet[rng() % alphabet.size()];
      std::vector<uint32_t> quadratic, tree;
      enc->setQuadraticMergeLimitForTest(SIZE_MAX);
      enc->encode(word, &quadratic);
      enc->setQuadraticMergeLimitForTest(1);
      enc->encode(word, &tree);
      enc->setQuadraticMergeLimitForTest(BpeEncoding::kQuadraticMergeLimit);
      REQUIRE(tree == quadratic);
    }
  }
}

TEST_CASE("the tree merge gives the rescanning merge's ids on vocabularies whose merges make lower ranks") {
  // With o200k_base and cl100k_base no text tried (the identity corpus, the benchmark's, random
  // strings) had a merge make a pair of lower rank than its own, so the tree merge's sweep never
  // stopped for one there; random vocabularies (ranks in any order over a four-letter alphabet)
  // make them often.
  std::mt19937 rng(11);
  const std::string alphabet = "abxy";
  auto randomWord = [&](size_t len) {
    std::string w;
    for (size_t i = 0; i < len; ++i) w += alphabet[rng() % alphabet.size()];
    return w;
  };
  for (int vocabulary = 0; vocabulary < 40; ++vocabulary) {
    std::vector<std::string> tokens;
    for (int b = 0; b < 256; ++b) tokens.emplace_back(1, char(b));
    std::vector<std::string> words;
    while (words.size() < 48) {
      std::string w = randomWord(2 + rng() % 5);
      if (std::find(words.begin(), words.end(), w) == words.end()) words.push_back(w);
    }
    tokens.insert(tokens.end(), words.begin(), words.end());
    auto enc = BpeEncoding::fromTokensForTest("[a-z]+|[^a-z]+", tokens);
    for (int round = 0; round < 50; ++round) {
      // Repetitions with a few changes (long runs of one rank) and plain random text.
      std::string text;
      size_t len = 1 + rng() % 700;
      if (round % 2) {
        std::string unit = randomWord(1 + rng() % 6);
        while (text.size() < len) text += unit;
        text.resize(len);
        for (int change = rng() % 4; change > 0; --change) text[rng() % len] = alphabet[rng() % alphabet.size()];
      } else {
        text = randomWord(len);
      }
      std::vector<uint32_t> quadratic, tree;
      enc->setQuadraticMergeLimitForTest(SIZE_MAX);
      enc->encode(text, &quadratic);
      enc->setQuadraticMergeLimitForTest(1);
      enc->encode(text, &tree);
      INFO("vocabulary " << vocabulary << ", text " << text);
      REQUIRE(tree == quadratic);
    }
  }
}

TEST_CASE("the ASCII word alternative splits text as the encoding's own pattern does") {
  // byName's encodings compile their pattern after an alternative for ASCII words; the same
  // ranks split by the pattern alone must give the same ids. The text mixes ASCII words with
  // what ends or continues a word differently in each encoding: capitals, digits, apostrophes
  // and contractions, a combining mark, a modifier letter (Lm), a titlecase letter (Lt), other
  // letters (Lo), accented Latin letters, spaces, newlines and punctuation.
  const std::vector<std::string> parts = {"a", "b", "z", "A", "Q", "Z", "the", "Hello", "ing", "x", "0", "42", "'",
                                          "'s", "'LL", "'re", " ", " ", "  ", "\n", ".", "(", "-", "\u0301", "\u02b0",
                                          "\u01c5", "\u4e2d", "\u00e9", "\u00c9", "\u00a0", "\t"};
  std::mt19937 rng(5);
  for (const char* name : {"o200k_base", "cl100k_base"}) {
    const BpeEncoding* enc = BpeEncoding::byName(name);
    std::vector<std::string> tokens;
    for (uint32_t rank = 0; rank < enc->rankCount(); ++rank) tokens.emplace_back(enc->tokenBytes(rank));
    auto plain = BpeEncoding::fromTokensForTest(enc->splitPattern(), tokens);
    for (int round = 0; round < 3000; ++round) {
      std::string text;
      for (int k = 1 + int(rng() % 12); k > 0; --k) text += parts[rng() % parts.size()];
      std::vector<uint32_t> fast, own;
      enc->encode(text, &fast);
      plain->encode(text, &own);
      INFO(name << ": " << text);
      REQUIRE(fast == own);
    }
  }
}

TEST_CASE("the piece memo answers each encoding and each thread with that encoding's ids") {
  // The same pieces through both encodings in turn, again and again, then on a fresh thread:
  // a memo shared between encodings, or one answering with stale entries, changes the ids. The
  // long words are pieces of several tokens, which the memos keep (21 and 35 bytes: one in each).
  const std::string text = "Hello, world! Supercalifragilistic antidisestablishmentarianismically";
  const Ids o200k{13225, 11, 2375, 0, 8220, 5842, 366, 17764, 311, 6207, 4624, 129901, 376, 160388, 21203, 2367, 2905};
  const Ids cl100k{9906, 11, 1917, 0, 6433, 3035, 278, 333, 4193, 321, 4633, 3276, 85342, 34500, 479, 8997, 2191, 2740};
  for (int round = 0; round < 3; ++round) {
    CHECK(ids("o200k_base", text) == o200k);
    CHECK(ids("cl100k_base", text) == cl100k);
    CHECK(BpeEncoding::byName("o200k_base")->count(text) == o200k.size());
  }
  Ids on_thread;
  std::thread([&] { on_thread = ids("cl100k_base", text); }).join();
  CHECK(on_thread == cl100k);
}

TEST_CASE("invalid UTF-8 counts as U+FFFD per maximal invalid subsequence, as Python's 'replace' decodes it") {
  // b"a\xff\xe2\x82b".decode("utf-8", "replace") == "a\ufffd\ufffdb"
  CHECK(ids("o200k_base", "a\xff\xe2\x82" "b") == ids("o200k_base", "a\xEF\xBF\xBD\xEF\xBF\xBD" "b"));
  CHECK(ids("cl100k_base", "\xc0\xaf") == ids("cl100k_base", "\xEF\xBF\xBD\xEF\xBF\xBD"));
}

TEST_CASE("adversarial repetitions stay bounded: a million-byte piece encodes") {
  // One regex piece of 1 MB: the tree merge is O(n log n); tiktoken's loop would be O(n^2).
  std::string text;
  std::mt19937 rng(3);
  for (int i = 0; i < 1 << 20; ++i) text += "ab"[rng() % 2];
  auto start = std::chrono::steady_clock::now();
  size_t n = BpeEncoding::byName("o200k_base")->count(text);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(n > 1000);
  WARN("1 MiB single-piece word: " << n << " tokens in " << seconds << " s");
  CHECK(BpeEncoding::byName("cl100k_base")->count(std::string(1 << 20, ' ') + "x") > 0);
}

// The filter in front of the large rank tables: a token it refused would be counted as merges.
TEST_CASE("the rank tables' key filter holds every key added and refuses nearly all others") {
  outrigger::tokens::KeyFilter filter;
  std::mt19937_64 rng(7);
  std::vector<uint64_t> keys(150000);
  for (uint64_t& k : keys) k = rng();
  filter.reset(keys.size());
  for (uint64_t k : keys) filter.add(k);
  for (uint64_t k : keys) REQUIRE(filter.mayHold(k));
  size_t false_positives = 0, others = 1000000;
  for (size_t i = 0; i < others; ++i) false_positives += filter.mayHold(rng());
  CHECK(false_positives < others * 3 / 100);
  filter.reset(1);  // the smallest filter: still no false negative
  filter.add(keys[0]);
  CHECK(filter.mayHold(keys[0]));
}
