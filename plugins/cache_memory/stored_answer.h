// A cached answer with the full canonical key of its request (compared on every hit, so a hash
// collision never serves another request's answer), as cache.memory keeps it and as cache.redis
// stores it in one value, length-prefixed. A value that does not decode (another version, a
// truncated write) is a miss, never an error.
#pragma once

#include <outrigger/plugin.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace outrigger::cache {

struct StoredToolCall {
  std::string id, type, name, arguments;
};

struct StoredAnswer {
  std::string key;
  std::string content, finish_reason, model;
  std::vector<StoredToolCall> tool_calls;
  outrigger_usage usage{};
};

// Whether an answer is one to serve again: not one cut short by the token limit (finish_reason
// "length"), which a later caller would get truncated for the whole TTL.
bool worthStoring(const outrigger_response_view& response);
StoredAnswer storedFrom(std::string key, const outrigger_response_view& response);
// Its size in memory, roughly (cache.memory's bound).
size_t storedBytes(const StoredAnswer& answer);
// Completes a pending lookup with it: a hit reports cached_tokens = prompt_tokens and costs nothing.
void answerHit(const plugin::Host& host, outrigger_request request, const StoredAnswer& answer);
std::string encodeAnswer(const StoredAnswer& answer);
std::optional<StoredAnswer> decodeAnswer(std::string_view value);

}  // namespace outrigger::cache
