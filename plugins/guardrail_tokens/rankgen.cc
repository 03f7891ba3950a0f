// Build-time converter: one encoder of the npm `tiktoken` package ({pat_str, special_tokens,
// bpe_ranks}) into the compact blob compiled into the plugin (rank_blob.h documents the layout)
// and into tiktoken's own text format ("<base64 token> <rank>" lines), whose SHA-256 the build
// compares with the hash OpenAI's tiktoken expects: that proves the blob holds the official ranks.
//   tiktoken_rankgen ENCODER.json OUT.ranks OUT.tiktoken
#include <rapidjson/document.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "rank_blob.h"

namespace {

int fail(const std::string& what) {
  std::fprintf(stderr, "tiktoken_rankgen: %s\n", what.c_str());
  return 1;
}

bool base64Decode(std::string_view in, std::string* out) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  out->clear();
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    int v = value(c);
    if (v < 0) return false;
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(char((acc >> bits) & 0xFF));
    }
  }
  return !out->empty();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) return fail("usage: tiktoken_rankgen ENCODER.json OUT.ranks OUT.tiktoken");
  std::ifstream in(argv[1], std::ios::binary);
  std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  rapidjson::Document d;
  d.Parse(json.c_str(), json.size());
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("pat_str") || !d.HasMember("bpe_ranks") ||
      !d.HasMember("special_tokens") || !d["bpe_ranks"].IsString() || !d["pat_str"].IsString()) {
    return fail(std::string(argv[1]) + ": not a tiktoken encoder ({pat_str, special_tokens, bpe_ranks})");
  }

  // bpe_ranks: runs of "! <first rank> <base64> <base64> ...", ranks consecutive within a run.
  std::vector<std::string> tokens;
  std::ostringstream text;
  std::istringstream words(std::string(d["bpe_ranks"].GetString(), d["bpe_ranks"].GetStringLength()));
  std::string word, bytes;
  bool expect_offset = false;
  size_t next_rank = 0;
  while (words >> word) {
    if (word == "!") {
      expect_offset = true;
      continue;
    }
    if (expect_offset) {
      if (std::stoul(word) != tokens.size()) return fail("rank runs with a gap at " + word + ": not supported");
      expect_offset = false;
      continue;
    }
    if (!base64Decode(word, &bytes)) return fail("bad base64 token '" + word + "'");
    tokens.push_back(bytes);
    text << word << ' ' << next_rank++ << '\n';
  }
  if (tokens.size() < 256) return fail("fewer than 256 ranks");

  std::vector<std::pair<std::string, uint32_t>> specials;
  for (const auto& s : d["special_tokens"].GetObject()) {
    specials.emplace_back(std::string(s.name.GetString(), s.name.GetStringLength()), s.value.GetUint());
  }
  std::string blob = outrigger::tokens::encodeRankBlob(
      std::string_view(d["pat_str"].GetString(), d["pat_str"].GetStringLength()), specials, tokens);

  std::ofstream ranks(argv[2], std::ios::binary | std::ios::trunc);
  ranks.write(blob.data(), std::streamsize(blob.size()));
  std::ofstream tiktoken(argv[3], std::ios::binary | std::ios::trunc);
  tiktoken << text.str();
  if (!ranks || !tiktoken) return fail("cannot write the outputs");
  return 0;
}
