// A request's prompt in tokens, as limits charge it before the answer's usage is known: exact
// for a model whose encoding is known (OpenAI's o200k_base and cl100k_base, counted the way
// OpenAI bills a chat prompt with guardrail.tokens' tokenizer, when the build has it), else the
// estimate of its text bytes / 4 (as is a prompt of more than 1 MiB of text, whose counting
// would hold a worker too long). Tool definitions are counted as their text, which OpenAI does
// not document: a request with tools is close, not exact. A request's counter keeps one count per
// encoding until the conversation changes (a guardrail's REWRITE, a re-ask), so its limiters and
// its provider step count the prompt once.
#pragma once

#include <outrigger/plugin.h>

#include <array>
#include <cstdint>
#include <string_view>

namespace outrigger::chain {

class PromptTokenCounter {
 public:
  // The prompt's tokens as `model` counts them.
  uint64_t count(const outrigger_request_view& view, std::string_view model);
  // The conversation changed: every count is stale.
  void reset() { used_ = 0; }

  // Whether `model`'s prompts are counted exactly here.
  static bool exactFor(std::string_view model);
  // Builds `model`'s encoding now, if it has one, so the first request to count with it does not
  // (config load calls this for the models of routes that limit tokens).
  static void prepare(std::string_view model) { exactFor(model); }
  // Builds every encoding counted here (for a route whose model is the caller's).
  static void prepareAll();

 private:
  struct Memo {
    const void* encoding;  // nullptr: the bytes / 4 estimate
    uint64_t tokens;
  };
  std::array<Memo, 3> memo_{};  // at most o200k_base, cl100k_base and the estimate
  size_t used_ = 0;
};

}  // namespace outrigger::chain
