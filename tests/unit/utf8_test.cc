// The UTF-8 helpers: each maximal invalid subsequence becomes one U+FFFD, as Python's
// bytes.decode("utf-8", "replace") gives (the expected strings are its output).
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <utility>
#include <vector>

#include "common/utf8.h"

using outrigger::utf8Replaced;
using outrigger::validUtf8;

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

TEST_CASE("utf8: any bytes come out valid, and valid text comes out unchanged") {
  std::mt19937 rng(11);
  for (int round = 0; round < 20000; ++round) {
    std::string bytes(rng() % 12, '\0');
    for (char& c : bytes) c = static_cast<char>(0x70 + rng() % 0x90);  // mostly the bytes above ASCII
    const std::string fixed = utf8Replaced(bytes);
    INFO(round);
    REQUIRE(validUtf8(fixed));
    if (validUtf8(bytes)) REQUIRE(fixed == bytes);
    else REQUIRE(fixed != bytes);
  }
}
