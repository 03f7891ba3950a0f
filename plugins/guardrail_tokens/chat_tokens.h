// Counting a chat request the way OpenAI bills it, and choosing which messages to drop so it
// fits a context window. Pure functions over the request view; no config, no I/O.
//
// Chat overhead (OpenAI cookbook, "How to count tokens with tiktoken", for every model using
// o200k_base or cl100k_base): each message costs 3 tokens (<|start|>{role}\n...<|end|>\n) plus
// its role and content, a `name` 1 more plus the name's tokens, and the reply is primed with 3
// (<|start|>assistant<|message|>). What the cookbook leaves open is counted as text: tool calls
// (name + arguments), tool_call_id, and the tool definitions of the request (name, description,
// parameters JSON). Those last parts are an estimate; messages without tools match the API's
// prompt_tokens exactly.
#pragma once

#include <outrigger/plugin.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "bpe_encoding.h"

namespace outrigger::tokens {

inline constexpr uint64_t kTokensPerMessage = 3;
inline constexpr uint64_t kTokensPerName = 1;
inline constexpr uint64_t kReplyPriming = 3;

struct PromptCount {
  std::vector<uint64_t> per_message;  // overhead included
  uint64_t tools = 0;                 // tool definitions
  uint64_t total = 0;                 // messages + tools + reply priming
};

uint64_t messageTokens(const BpeEncoding& enc, const outrigger_message_view& m);
PromptCount countPrompt(const BpeEncoding& enc, const outrigger_request_view& req);
// A bound countPrompt never exceeds, in O(messages): every token is at least one byte, so the
// text's bytes plus the overhead. Lets a prompt far under its window pass without counting.
uint64_t promptTokensUpperBound(const outrigger_request_view& req);
// Tokens of an answer: its text plus each tool call's name and arguments.
uint64_t answerTokens(const BpeEncoding& enc, const outrigger_response_view& resp);

// True for the roles trimming keeps: "system" and "developer".
bool isSystemRole(std::string_view role);

struct TrimPlan {
  std::vector<size_t> keep;  // indices into the request's messages, in order
  uint64_t total = 0;        // the prompt's tokens with only those
  size_t dropped = 0;
};

// Drops the oldest non-system messages until the prompt is at most `budget` tokens. The last
// message is never dropped, and a tool result whose assistant call was dropped goes with it (a
// conversation cannot start with a tool message). False when even that minimum is over budget.
bool planTrim(const outrigger_request_view& req, const PromptCount& count, uint64_t budget, TrimPlan* plan);

}  // namespace outrigger::tokens
