// provider.onnx's BERT tokenizer on hostile bytes (invalid UTF-8, control and format characters,
// special-token text, long words): it never fails, every id is in the vocabulary, and the same
// text always gives the same ids.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "wordpiece_tokenizer.h"

using outrigger::onnx::WordPieceTokenizer;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const WordPieceTokenizer* const tokenizer = [] {
    std::string error;
    auto t = WordPieceTokenizer::load(OUTRIGGER_MINILM_MODEL "/all-minilm-l6-v2-q-tokenizer.json", &error);
    if (!t) std::abort();
    return t.release();
  }();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<int64_t> ids, again;
  tokenizer->tokenize(text, &ids);
  for (int64_t id : ids) {
    if (id < 0 || size_t(id) >= tokenizer->vocabSize()) std::abort();
  }
  tokenizer->tokenize(text, &again);
  if (again != ids) std::abort();
  return 0;
}
