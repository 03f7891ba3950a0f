// guardrail.tokens' encoder on hostile bytes, in both encodings: a count equals the number of ids
// encode gives; the ids' bytes are the text again when it is valid UTF-8; and the two merge
// strategies (tiktoken's rescanning loop, the tournament tree for long pieces) give the same ids
// (pieces of up to 128 bytes come from the thread's memo the second time, longer ones are merged
// again each time).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "bpe_encoding.h"
#include "common/utf8.h"

using outrigger::tokens::BpeEncoding;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static BpeEncoding* const encodings[] = {const_cast<BpeEncoding*>(BpeEncoding::byName("o200k_base")),
                                           const_cast<BpeEncoding*>(BpeEncoding::byName("cl100k_base"))};
  if (size < 1) return 0;
  BpeEncoding* enc = encodings[data[0] % 2];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

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
