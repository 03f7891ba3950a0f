// guardrail.tokens' encoder on hostile bytes, in both encodings: the hand-matched split cuts the
// pieces PCRE2 cuts with the encoding's pattern; a count equals the number of ids encode gives;
// the ids' bytes are the text again when it is valid UTF-8; and the two merge
// strategies (tiktoken's rescanning loop, the tournament tree for long pieces) give the same ids
// (pieces of up to 128 bytes come from the thread's memo the second time, longer ones are merged
// again each time).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bpe_encoding.h"
#include "common/utf8.h"

using outrigger::tokens::BpeEncoding;

static std::unique_ptr<BpeEncoding> pcre2Twin(const BpeEncoding& enc) {
  std::vector<std::string> tokens;
  for (uint32_t rank = 0; rank < enc.rankCount(); ++rank) tokens.emplace_back(enc.tokenBytes(rank));
  return BpeEncoding::fromTokensForTest(enc.splitPattern(), tokens);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static BpeEncoding* const encodings[] = {const_cast<BpeEncoding*>(BpeEncoding::byName("o200k_base")),
                                           const_cast<BpeEncoding*>(BpeEncoding::byName("cl100k_base"))};
  // The same ranks split by PCRE2 with the pattern (built once: 200,000 tokens each).
  static const std::unique_ptr<BpeEncoding> by_pcre2[] = {pcre2Twin(*encodings[0]), pcre2Twin(*encodings[1])};
  if (size < 1) return 0;
  BpeEncoding* enc = encodings[data[0] % 2];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  if (enc->pieces(text) != by_pcre2[data[0] % 2]->pieces(text)) std::abort();

  std::vector<uint32_t> ids;
  enc->encode(text, &ids);
  if (enc->count(text) != ids.size()) std::abort();
  if (outrigger::validUtf8(text)) {
    std::string back;
    for (uint32_t id : ids) {
      if (id >= enc->rankCount()) std::abort();
      back += enc->tokenBytes(id);
    }
    if (back != text) std::abort();
  }
  // The rescanning loop is quadratic in a piece's length: only short texts take it throughout.
  if (text.size() <= 4096) {
    std::vector<uint32_t> tree, quadratic;
    enc->setQuadraticMergeLimitForTest(1);
    enc->encode(text, &tree);
    enc->setQuadraticMergeLimitForTest(SIZE_MAX);
    enc->encode(text, &quadratic);
    enc->setQuadraticMergeLimitForTest(BpeEncoding::kQuadraticMergeLimit);
    if (tree != ids || quadratic != ids) std::abort();
  }
  return 0;
}
