// What a request is looked up by: its hard partition (never text, so a tenant can never reach
// another's entries through similarity) and the text that is embedded.
#pragma once

#include <outrigger/plugin.h>

#include <string>

namespace outrigger::semantic {

enum class KeyText {
  kLastUser,      // the last user message: the question; what came before it is in the partition
  kConversation,  // every message, the system prompt included, as "role: content" lines
};

// The partition key: tenant, route and model in clear, length-prefixed; the system prompt(s),
// the tool set with the tool choice, and the response format with its schema as a 128-bit hash.
// With kLastUser the hash also covers every other message but the system ones (earlier turns,
// tool calls and results): "What is its population?" asked after talk of Paris never finds
// the answer given after talk of London, yet the first question of any conversation is shared.
std::string partitionKey(const outrigger_request_view& req, KeyText mode);

// The text to embed; empty when there is nothing to embed (no user message).
std::string keyText(const outrigger_request_view& req, KeyText mode);

}  // namespace outrigger::semantic
