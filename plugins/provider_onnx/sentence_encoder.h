// A BERT-family sentence embedding model run by ONNX Runtime: tokenize (WordPieceTokenizer),
// run the model on [CLS] ids [SEP], pool its last hidden state (the mean over the tokens, or
// the [CLS] row), L2-normalise. ONNX Runtime is opened with dlopen from the path the config
// gives, through its C API (ORT_API_VERSION 20), so the plugin builds against the header alone
// and a host without the library only loses this provider.
//
// A text longer than the model's window is cut into windows of max_tokens, each embedded on its
// own, and the windows averaged by token count: every word of a long prompt still counts, where
// truncating would give two prompts that differ only past the window the same vector.
//
// embed() may run on several threads at once (an ONNX Runtime session's Run is thread-safe);
// each call runs on its calling thread alone (intra- and inter-op threads are 1).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "wordpiece_tokenizer.h"

namespace outrigger::onnx {

enum class Pooling { kMean, kCls };

struct EncoderOptions {
  std::string runtime_path;    // libonnxruntime.so
  std::string model_path;      // the .onnx file
  std::string tokenizer_path;  // its tokenizer.json (WordPiece)
  Pooling pooling = Pooling::kMean;
  size_t max_tokens = 0;  // window length, [CLS] and [SEP] included; 0: the tokenizer file's, else 256
};

class SentenceEncoder {
 public:
  // Null with `*error` set when the library, the model or the tokenizer cannot be loaded, or the
  // model's inputs and output are not a BERT encoder's.
  static std::unique_ptr<SentenceEncoder> load(const EncoderOptions& options, std::string* error);
  ~SentenceEncoder();

  size_t dims() const { return dims_; }
  size_t maxTokens() const { return max_tokens_; }
  const WordPieceTokenizer& tokenizer() const { return *tokenizer_; }
  // The unit-length embedding of `text` into out[0..dims()). Returns the number of tokens the
  // model read ([CLS] and [SEP] of each window included), or 0 with `*error` set. When `stop`
  // becomes true the windows not yet run are skipped (a cancelled request's long text).
  size_t embed(std::string_view text, float* out, std::string* error, const std::atomic<bool>* stop = nullptr) const;

  // A text's embedding under way: tokenized at its first window, then run a window at a time,
  // so a model thread can take turns between a long text's windows and other calls.
  struct Progress {
    std::vector<int64_t> ids;
    std::vector<double> sum;
    size_t next = 0;  // the first token of the next window
    size_t read = 0;  // tokens the model read so far
    bool started = false;
  };
  // Runs up to `windows` more windows of `text` (the same text at every call for one Progress).
  // True when the text is done: out[0..dims()) holds its embedding and `*tokens` the tokens read;
  // false with `*error` empty when windows remain, or with it set when the model failed.
  bool embedSome(std::string_view text, Progress* progress, size_t windows, float* out, size_t* tokens,
                 std::string* error) const;

 private:
  struct Runtime;  // the dlopen'ed library and its session (sentence_encoder.cc)
  SentenceEncoder() = default;
  // Runs one window of ids; adds its pooled row, weighted by its token count, to `sum`.
  bool runWindow(const std::vector<int64_t>& ids, std::vector<double>* sum, std::string* error) const;

  std::unique_ptr<WordPieceTokenizer> tokenizer_;
  std::unique_ptr<Runtime> runtime_;
  Pooling pooling_ = Pooling::kMean;
  size_t max_tokens_ = 256;
  size_t dims_ = 0;
};

}  // namespace outrigger::onnx
