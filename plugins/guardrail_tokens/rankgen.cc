// Build-time converter: one encoder of the npm `tiktoken` package ({pat_str, special_tokens,
// bpe_ranks}) into the compact blob compiled into the plugin (rank_data.h documents the layout)
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

void put32(std::string* blob, uint32_t v) { blob->append(reinterpret_cast<const char*>(&v), 4); }

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

  std::string blob("ORBPE01", 8);
  uint32_t max_len = 0;
  for (const auto& t : tokens) max_len = std::max<uint32_t>(max_len, uint32_t(t.size()));
  const auto& specials = d["special_tokens"];
  put32(&blob, uint32_t(tokens.size()));
  put32(&blob, max_len);
  put32(&blob, d["pat_str"].GetStringLength());
  put32(&blob, specials.MemberCount());
  blob.append(d["pat_str"].GetString(), d["pat_str"].GetStringLength());
  for (const auto& s : specials.GetObject()) {
    put32(&blob, s.name.GetStringLength());
    blob.append(s.name.GetString(), s.name.GetStringLength());
    put32(&blob, s.value.GetUint());
  }
  uint32_t offset = 0;
  for (const auto& t : tokens) {
    put32(&blob, offset);
    offset += uint32_t(t.size());
  }
  put32(&blob, offset);
  for (const auto& t : tokens) blob += t;

  std::ofstream ranks(argv[2], std::ios::binary | std::ios::trunc);
  ranks.write(blob.data(), std::streamsize(blob.size()));
  std::ofstream tiktoken(argv[3], std::ios::binary | std::ios::trunc);
  tiktoken << text.str();
  if (!ranks || !tiktoken) return fail("cannot write the outputs");
  return 0;
}
