// The rank data compiled into guardrail.tokens, one blob per encoding, all integers u32 little-endian:
//
//   "ORBPE01\0"  rank_count  max_token_len  pattern_len  special_count
//   pattern bytes
//   special_count x (name_len, name bytes, rank)
//   (rank_count + 1) offsets into the token bytes, the last one their total
//   token bytes, in rank order
//
// tiktoken_rankgen writes it at build time; BpeEncoding reads it (and tests make small ones).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace outrigger::tokens {

inline std::string encodeRankBlob(std::string_view pattern,
                                  const std::vector<std::pair<std::string, uint32_t>>& specials,
                                  const std::vector<std::string>& tokens) {
  std::string blob("ORBPE01", 8);
  auto put32 = [&](size_t v) {
    uint32_t u = static_cast<uint32_t>(v);
    blob.append(reinterpret_cast<const char*>(&u), 4);
  };
  size_t max_len = 0, offset = 0;
  for (const auto& t : tokens) max_len = std::max(max_len, t.size());
  put32(tokens.size());
  put32(max_len);
  put32(pattern.size());
  put32(specials.size());
  blob += pattern;
  for (const auto& [name, rank] : specials) {
    put32(name.size());
    blob += name;
    put32(rank);
  }
  for (const auto& t : tokens) put32(offset), offset += t.size();
  put32(offset);
  for (const auto& t : tokens) blob += t;
  return blob;
}

}  // namespace outrigger::tokens
