// cache.redis' value encoding: what is stored comes back the same, and any value that is not a
// whole encoding (cut short, extended, another version) is refused rather than misread.
#include <catch2/catch.hpp>

#include "stored_answer.h"

using outrigger::cache::decodeAnswer;
using outrigger::cache::encodeAnswer;
using outrigger::cache::StoredAnswer;

namespace {

StoredAnswer sample() {
  StoredAnswer a;
  a.key = std::string("tenant\0key", 10);
  a.content = "Paris is the capital of France.";
  a.finish_reason = "tool_calls";
  a.model = "gpt-4o-mini-2024-07-18";
  a.tool_calls.push_back({"call_1", "function", "lookup", R"({"city":"Paris"})"});
  a.tool_calls.push_back({"call_2", "function", "weather", "{}"});
  a.usage = {12, 34, 5, 6};
  return a;
}

}  // namespace

TEST_CASE("stored answer: an encoded answer decodes to the same fields") {
  StoredAnswer a = sample();
  auto back = decodeAnswer(encodeAnswer(a));
  REQUIRE(back);
  CHECK(back->key == a.key);
  CHECK(back->content == a.content);
  CHECK(back->finish_reason == a.finish_reason);
  CHECK(back->model == a.model);
  REQUIRE(back->tool_calls.size() == 2);
  CHECK(back->tool_calls[0].arguments == a.tool_calls[0].arguments);
  CHECK(back->tool_calls[1].name == "weather");
  CHECK(back->usage.prompt_tokens == 12);
  CHECK(back->usage.completion_tokens == 34);
  CHECK(back->usage.cached_tokens == 5);
  CHECK(back->usage.reasoning_tokens == 6);
}

TEST_CASE("stored answer: every truncation, an extra byte and another version are refused") {
  std::string value = encodeAnswer(sample());
  for (size_t n = 0; n < value.size(); ++n) CHECK_FALSE(decodeAnswer(value.substr(0, n)));
  CHECK_FALSE(decodeAnswer(value + "x"));
  std::string other = value;
  other[0] = 2;
  CHECK_FALSE(decodeAnswer(other));
  // A length that claims more than there is.
  std::string lying = value;
  lying[1] = '\xff';
  lying[2] = '\xff';
  CHECK_FALSE(decodeAnswer(lying));
  // A byte of the answer's text damaged into something that is not UTF-8: a miss, not served.
  std::string damaged = value;
  size_t at = damaged.find("Paris");
  REQUIRE(at != std::string::npos);
  damaged[at] = '\xff';
  CHECK_FALSE(decodeAnswer(damaged));
  damaged[at] = 'p';  // still UTF-8: decodes (the full key, compared on a hit, guards the rest)
  REQUIRE(decodeAnswer(damaged));
  CHECK(decodeAnswer(damaged)->content == "paris is the capital of France.");
}
