// A cached answer as one Redis value: the full canonical request key (compared on every hit, so
// a hash collision never serves another request's answer) and the answer, length-prefixed. A
// value that does not decode (another version, a truncated write) is a miss, never an error.
#pragma once

#include <outrigger/plugin.h>

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

StoredAnswer storedFrom(std::string key, const outrigger_response_view& response);
std::string encodeAnswer(const StoredAnswer& answer);
std::optional<StoredAnswer> decodeAnswer(std::string_view value);

}  // namespace outrigger::cache
