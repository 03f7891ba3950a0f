// The UTF-8 helpers: each maximal invalid subsequence becomes one U+FFFD, as Python's
// bytes.decode("utf-8", "replace") gives (the expected strings are its output).
#include <catch2/catch.hpp>

#include <rapidjson/encodings.h>
#include <rapidjson/memorystream.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <simdjson.h>

#include "common/utf8.h"

using outrigger::utf8Replaced;
using outrigger::validUtf8;

namespace {

// RapidJSON's validator, character by character: the reference validUtf8 must agree with.
bool rapidjsonValid(const std::string& text) {
  struct Discard {
    void Put(char) {}
  } out;
  rapidjson::MemoryStream in(text.data(), text.size());
  while (in.Tell() < text.size()) {
    if (!rapidjson::UTF8<>::Validate(in, out)) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("utf8: invalid sequences are replaced as Python's decode with errors='replace' replaces them") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"plain ascii", "plain ascii"},
      {"Gr\xC3\xBC\xC3\x9F" "e \xE4\xB8\x96\xE7\x95\x8C \xF0\x9F\x8C\x8D", "Gr\xC3\xBC\xC3\x9F" "e \xE4\xB8\x96\xE7\x95\x8C \xF0\x9F\x8C\x8D"},
      {"\xFF", "\xEF\xBF\xBD"},
      {"a\x80" "b", "a\xEF\xBF\xBD" "b"},
      {"\xC3", "\xEF\xBF\xBD"},
      {"\xC3(", "\xEF\xBF\xBD("},
      {"\xE2\x82", "\xEF\xBF\xBD"},
      {"\xE2\x82(", "\xEF\xBF\xBD("},
      {"\xE0\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
      {"\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
      {"\xF0\x9F\x98", "\xEF\xBF\xBD"},
      {"\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80"},
      {"\xF4\x90\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
      {"\xF5\x80", "\xEF\xBF\xBD\xEF\xBF\xBD"},
      {"\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD"},
      {"\xE1\x80\xE2\xF0\x91\x92\xF1\xBF" "A", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "A"},
  };
  for (const auto& [in, want] : cases) {
    INFO(in);
    CHECK(utf8Replaced(in) == want);
    CHECK(validUtf8(utf8Replaced(in)));
  }
}

// simdjson's active implementation is a stand-in until first used, one that detects the CPU
// again on every call it passes on; kept as the validator, it cost a quarter of a worker's CPU.
TEST_CASE("utf8: the validator is one of simdjson's own implementations, not its first-use stand-in") {
  const simdjson::implementation* chosen = &outrigger::utf8Validator();
  bool listed = false;
  for (const simdjson::implementation* i : simdjson::get_available_implementations()) listed |= i == chosen;
  CHECK(listed);
  CHECK(chosen->supported_by_runtime_system());
}

TEST_CASE("utf8: validity agrees with RapidJSON's validator, any bytes come out valid, valid text unchanged") {
  std::mt19937 rng(11);
  for (int round = 0; round < 40000; ++round) {
    // Short strings of mostly the bytes above ASCII, and longer ones of ASCII runs (checked a word
    // at a time) with a few others among them, at every alignment.
    const bool runs = round % 2;
    std::string bytes(runs ? rng() % 64 : rng() % 12, '\0');
    for (char& c : bytes) c = static_cast<char>(runs && rng() % 16 ? 0x20 + rng() % 0x5f : 0x70 + rng() % 0x90);
    const std::string fixed = utf8Replaced(bytes);
    INFO(round);
    REQUIRE(validUtf8(bytes) == rapidjsonValid(bytes));
    REQUIRE(validUtf8(fixed));
    if (validUtf8(bytes)) REQUIRE(fixed == bytes);
    else REQUIRE(fixed != bytes);
  }
}

TEST_CASE("utf8: a view is checked to its end and no further") {
  // ASCII of every length up to 80 in a buffer of exactly that size (AddressSanitizer, in the asan
  // preset, reports a read past it), and the same text followed by a byte not valid alone.
  for (size_t n = 1; n <= 80; ++n) {
    std::unique_ptr<char[]> exact(new char[n]);
    std::fill(exact.get(), exact.get() + n, 'a');
    std::string longer(n, 'a');
    longer += '\xff';
    INFO(n);
    CHECK(validUtf8(std::string_view(exact.get(), n)));
    CHECK(validUtf8(std::string_view(longer.data(), n)));
    CHECK_FALSE(validUtf8(longer));
  }
}
