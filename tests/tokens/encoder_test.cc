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
#include "common/utf8.h"
#include "unicode_classes.h"

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

namespace {

// What decides where the split patterns cut: the characters their alternatives name (newlines,
// the space, the apostrophe, '/', the contractions' letters in both cases and U+017F, which
// (?i)s also matches), the other spaces (\v, \f, NEL, NBSP, U+1680, U+2000, U+2028, U+2029,
// U+202F, U+205F, the ideographic space), letters of each case class (Lu, Ll, Lt, Lm, Lo),
// combining marks, numbers (Nd, Nl, No), symbols, emoji, U+FFFD, controls and an unassigned one.
const std::vector<std::string> kDeciders = [] {
  std::vector<std::string> out;
  for (uint32_t cp : {0x0Du, 0x0Au, 0x20u, 0x09u, 0x27u, 0x2Fu, 0x73u, 0x53u, 0x17Fu, 0x74u, 0x54u, 0x72u, 0x52u,
                      0x65u, 0x45u, 0x76u, 0x56u, 0x6Du, 0x4Du, 0x6Cu, 0x4Cu, 0x64u, 0x44u, 0x61u, 0x5Au, 0x85u,
                      0x0Bu, 0x0Cu, 0xA0u, 0x1680u, 0x2000u, 0x2028u, 0x2029u, 0x202Fu, 0x205Fu, 0x3000u, 0x01C5u, 0x02B0u, 0x4E2Du, 0xE9u, 0xC9u, 0x0416u, 0x0436u, 0x0301u,
                      0x0903u, 0x30u, 0x39u, 0x0661u, 0x2164u, 0xB2u, 0x2Eu, 0x2Du, 0x2Bu, 0x00A9u, 0x1F600u,
                      0xFFFDu, 0x01u, 0x0378u}) {
    out.push_back(outrigger::utf8Of(cp));
  }
  return out;
}();

}  // namespace

TEST_CASE("the hand-matched split cuts the pieces PCRE2 cuts with the pattern") {
  // byName's encodings split by hand (pretokenizer.h); the same ranks split by PCRE2 with the
  // encoding's pattern must give the same pieces: on every text of up to three characters from
  // the deciders, then on random text from them and from one code point of every block of 256
  // with each combination of classes that block holds (unicode_classes.h: every class the
  // build's PCRE2 gave, in every script).
  std::vector<std::string> every_class = kDeciders;
  for (uint32_t base = 0; base < outrigger::tokens::kCodePointLimit; base += 256) {
    if (base >= 0xD800 && base < 0xE000) continue;  // surrogates: not characters
    uint32_t seen = 0;
    for (uint32_t cp = base; cp < base + 256; ++cp) {
      uint8_t classes = outrigger::tokens::classesOf(cp);
      if (!(seen & 1u << classes)) every_class.push_back(outrigger::utf8Of(cp)), seen |= 1u << classes;
    }
  }
  std::mt19937 rng(7);
  for (const char* name : {"o200k_base", "cl100k_base"}) {
    const BpeEncoding* enc = BpeEncoding::byName(name);
    std::vector<std::string> tokens;
    for (uint32_t rank = 0; rank < enc->rankCount(); ++rank) tokens.emplace_back(enc->tokenBytes(rank));
    auto pcre2 = BpeEncoding::fromTokensForTest(enc->splitPattern(), tokens);
    REQUIRE(enc->splitsByHand());
    REQUIRE_FALSE(pcre2->splitsByHand());
    auto same = [&](const std::string& text) {
      auto hand = enc->pieces(text);
      auto theirs = pcre2->pieces(text);
      if (hand == theirs) return true;
      INFO(name << ": \"" << text << "\" in " << hand.size() << " pieces against " << theirs.size());
      FAIL_CHECK("the pieces differ");
      return false;
    };
    const size_t k = kDeciders.size();
    size_t texts = 0;
    for (size_t a = 0; a < k; ++a) {
      for (size_t b = 0; b <= k; ++b) {
        for (size_t c = b < k ? 0 : k; c <= k; ++c) {  // a third character only after a second
          std::string text = kDeciders[a] + (b < k ? kDeciders[b] : "") + (c < k ? kDeciders[c] : "");
          REQUIRE(same(text));
          ++texts;
        }
      }
    }
    for (int round = 0; round < 40000; ++round) {
      const auto& alphabet = round % 2 ? every_class : kDeciders;
      std::string text;
      for (int n = 1 + int(rng() % 16); n > 0; --n) text += alphabet[rng() % alphabet.size()];
      REQUIRE(same(text));
      ++texts;
    }
    CHECK(texts > 100000);
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
