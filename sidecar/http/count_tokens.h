// Anthropic's POST /v1/messages/count_tokens: the prompt's tokens as the model the route calls
// counts them, exactly, where that model's encoding is known (OpenAI's o200k_base and
// cl100k_base, with guardrail.tokens' tokenizer, when the build has it). For any other model the
// caller is told the count is not available: an estimate presented as a count would mislead a
// budget, and Claude's tokenizer is not public.
#pragma once

#include <cstdint>
#include <string>

#include "chain/chain.h"
#include "http/chat_request.h"

namespace outrigger::http {

struct TokenCount {
  bool known = false;         // the model's encoding is known and the prompt was counted
  uint64_t input_tokens = 0;  // as the model counts the prompt (messages, tools, reply priming)
  std::string model;          // the model the route calls, which decided the encoding
};

// `call` from buildMessagesCall; `route` the route it resolves to (nullptr: none, the caller's
// model is counted).
TokenCount countPromptTokens(const ChatCall& call, const chain::Route* route);

}  // namespace outrigger::http
