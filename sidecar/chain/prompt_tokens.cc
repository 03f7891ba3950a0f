#include "chain/prompt_tokens.h"

#include "chain/request_views.h"

#ifdef OUTRIGGER_WITH_TOKENIZER
#include "bpe_encoding.h"
#include "chat_tokens.h"
#include "model_limits.h"
#endif

namespace outrigger::chain {
namespace {

// `model`'s encoding, or nullptr when it is not known here.
const void* encodingOf(std::string_view model) {
#ifdef OUTRIGGER_WITH_TOKENIZER
  std::string_view name = tokens::encodingForModel(model);
  return name.empty() ? nullptr : tokens::BpeEncoding::byName(name);
#else
  (void)model;
  return nullptr;
#endif
}

// Counting reads 20-90 MB/s a core: beyond this much text a prompt is estimated, so a caller
// sending the largest frames cannot hold a worker for long (about 50 ms at the slowest rate).
constexpr uint64_t kMaxCountedBytes = 1 << 20;

uint64_t countWith(const void* encoding, const outrigger_request_view& view) {
  uint64_t estimate = promptTokenEstimate(view);
#ifdef OUTRIGGER_WITH_TOKENIZER
  if (encoding && estimate <= kMaxCountedBytes / 4) {
    return tokens::countPrompt(*static_cast<const tokens::BpeEncoding*>(encoding), view).total;
  }
#endif
  return estimate;
}

}  // namespace

uint64_t PromptTokenCounter::count(const outrigger_request_view& view, std::string_view model) {
  const void* encoding = encodingOf(model);
  for (size_t i = 0; i < used_; ++i) {
    if (memo_[i].encoding == encoding) return memo_[i].tokens;
  }
  uint64_t tokens = countWith(encoding, view);
  if (used_ < memo_.size()) memo_[used_++] = {encoding, tokens};
  return tokens;
}

bool PromptTokenCounter::exactFor(std::string_view model) { return encodingOf(model) != nullptr; }

void PromptTokenCounter::prepareAll() {
#ifdef OUTRIGGER_WITH_TOKENIZER
  for (std::string_view name : tokens::BpeEncoding::names()) tokens::BpeEncoding::byName(name);
#endif
}

}  // namespace outrigger::chain
