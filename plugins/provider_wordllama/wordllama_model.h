// WordLlama's static embedding (github.com/dleemiller/WordLlama): tokenize with the Llama-2
// tokenizer, look up each token's row of the embedding table, average the rows, L2-normalise.
// No attention, no position: one lookup and one add per token, so embedding a prompt takes
// microseconds and can run on a worker loop.
#pragma once

#include <sentencepiece_processor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace outrigger::wordllama {

class WordLlamaModel {
 public:
  // Loads the tokenizer (a Hugging Face tokenizer.json) and the fp16 embedding table
  // ("embedding.weight", vocab x dims, in a .safetensors file). Null with `*error` set when
  // either file is missing or not what this expects.
  static std::unique_ptr<WordLlamaModel> load(const std::string& tokenizer_json_path,
                                              const std::string& weights_path, std::string* error);

  size_t dims() const { return dims_; }
  // The token ids of `text`, as the Python `tokenizers` library gives them without special
  // tokens. False when the tokenizer fails (it does not on valid UTF-8).
  bool tokenize(std::string_view text, std::vector<int>* ids) const;
  // The unit-length mean of the token rows of `text` into out[0..dims); all zeros for a text
  // with no tokens. Returns the token count.
  size_t embed(std::string_view text, float* out) const;

 private:
  WordLlamaModel() = default;
  sentencepiece::SentencePieceProcessor tokenizer_;
  std::vector<float> table_;  // vocab x dims, widened from fp16 once at load
  size_t vocab_ = 0, dims_ = 0;
};

}  // namespace outrigger::wordllama
