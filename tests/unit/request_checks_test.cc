// The socket front's checks on a request's strings: every text field must be UTF-8, the refusal
// names the field; and what checking a typical request costs.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "ipc/request_checks.h"
#include "outrigger_generated.h"
#include "support/frames.h"

using namespace outrigger;
using outrigger::testing::RequestSpec;
using outrigger::testing::requestFrame;
using outrigger::testing::sharedContentFrame;

namespace {

// The request of a size-prefixed frame, from an aligned copy kept in `buffer`.
const wire::Request* requestOf(const std::string& frame, std::vector<uint64_t>* buffer) {
  buffer->assign(frame.size() / 8 + 1, 0);
  std::copy(frame.begin(), frame.end(), reinterpret_cast<char*>(buffer->data()));
  return wire::GetSizePrefixedFrame(buffer->data())->body_as_Request();
}

std::string refusal(const RequestSpec& spec) {
  std::vector<uint64_t> buffer;
  const std::string frame = requestFrame(1, spec);
  Status s = ipc::checkRequestStrings(*requestOf(frame, &buffer), frame.size());
  return s.isOk() ? "" : s.message();
}

}  // namespace

TEST_CASE("request checks: each text field that is not UTF-8 is refused by name") {
  CHECK(refusal({}) == "");
  CHECK(refusal({.messages = {{"user", "Grüße, 世界 🌍"}}}) == "");
  CHECK(refusal({.model = "gpt\xff"}) == "model is not valid UTF-8");
  CHECK(refusal({.messages = {{"system", "ok"}, {"user", "caf\xe9"}}}) == "messages[1].content is not valid UTF-8");
  CHECK(refusal({.messages = {{"us\xc3", "hi"}}}) == "messages[0].role is not valid UTF-8");
  CHECK(refusal({.extra_json = "{\"x\": \"\xed\xa0\x80\"}"}) == "params.extra_json is not valid UTF-8");
  CHECK(refusal({.tools = {{"lookup", "{}"}, {"find\xf0\x9f", "{}"}}}) == "params.tools[1].name is not valid UTF-8");
  CHECK(refusal({.response_schema_json = "{\"title\": \"\xc0\xaf\"}"}) ==
        "params.response_format.schema_json is not valid UTF-8");
  CHECK(refusal({.tool_call_arguments = "{\"q\": \"\xff\"}"}) ==
        "messages[0].tool_calls[0].arguments is not valid UTF-8");
}

// The HTTP front refuses n other than 1; on the socket an `n` in the extras went upstream, which
// billed n answers while the limiters reserved one.
TEST_CASE("request checks: an n other than 1 in the extras is refused, as the HTTP front refuses it") {
  CHECK(refusal({.extra_json = R"({"n": 8})"}) == "params.extra_json: only n = 1 is supported");
  CHECK(refusal({.extra_json = R"({"logprobs": true, "n": 2})"}) == "params.extra_json: only n = 1 is supported");
  CHECK(refusal({.extra_json = R"({"n": 1})"}) == "");
  CHECK(refusal({.extra_json = R"({"n": null})"}) == "");
  CHECK(refusal({.extra_json = R"({"mock": {"n": 3}})"}) == "");  // not the top-level field
}

TEST_CASE("request checks: the ids a caller names itself by, the model and the tags are bounded in size") {
  CHECK(refusal({.tenant = std::string(256, 't')}) == "");
  CHECK(refusal({.tenant = std::string(257, 't')}) == "metadata.tenant is longer than 256 bytes");
  CHECK(refusal({.session = std::string(5000, 's')}) == "metadata.session is longer than 256 bytes");
  CHECK(refusal({.model = std::string(257, 'm')}) == "model is longer than 256 bytes");
  // What OpenAI's metadata allows (16 pairs, keys of 64 and values of 512 characters) passes.
  std::vector<std::pair<std::string, std::string>> openai_max;
  for (int i = 0; i < 16; ++i) openai_max.push_back({std::to_string(i) + std::string(62, 'k'), std::string(512, 'v')});
  CHECK(refusal({.tags = openai_max}) == "");
  CHECK(refusal({.tags = {{"k", std::string(2049, 'v')}}}) == "metadata.tags value of 'k' is longer than 2048 bytes");
  CHECK(refusal({.tags = {{"", std::string(2049, 'v')}}}) == "metadata.tags value of '' is longer than 2048 bytes");
  CHECK(refusal({.tags = {{std::string(257, 'k'), "v"}}}) == "a metadata.tags key is longer than 256 bytes");
  std::vector<std::pair<std::string, std::string>> many(33, {"k", "v"});
  CHECK(refusal({.tags = many}) == "metadata.tags has 33 tags, more than 32");
}

TEST_CASE("request checks: fields sharing one string are refused before anything reads them, and tools are at most 128") {
  std::vector<uint64_t> buffer;
  const std::string shared = sharedContentFrame(1, 1000, 10000);  // 10 MB to read, 30 KB sent
  REQUIRE(shared.size() < 100000);
  Status s = ipc::checkRequestStrings(*requestOf(shared, &buffer), shared.size());
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.message() == "the request's strings add up to more than twice its frame: fields sharing strings are not accepted");
  const std::string few = sharedContentFrame(2, 2, 10000);  // one shared string, read twice: within bounds
  CHECK(ipc::checkRequestStrings(*requestOf(few, &buffer), few.size()).isOk());

  std::vector<std::pair<std::string, std::string>> tools(129, {"lookup", "{}"});
  CHECK(refusal({.tools = tools}) == "params.tools has 129 tools, more than 128");
  tools.pop_back();
  CHECK(refusal({.tools = tools}) == "");
}

TEST_CASE("request checks: what checking a request's strings costs", "[.][bench]") {
  // A chat of a system prompt and four turns of a few hundred bytes, one tool, metadata.
  RequestSpec spec;
  spec.tenant = "team-a";
  spec.messages = {{"system", std::string(400, 's')}};
  for (int turn = 0; turn < 4; ++turn) {
    spec.messages.push_back({"user", "Could you tell me, in two sentences, what changed in release " +
                                         std::to_string(turn) + std::string(200, '.')});
    spec.messages.push_back({"assistant", std::string(300, 'a') + " — noted, café."});
  }
  spec.tools = {{"lookup", R"({"type":"object","properties":{"q":{"type":"string"}}})"}};
  std::vector<uint64_t> buffer;
  const std::string frame = requestFrame(1, spec);
  const wire::Request* request = requestOf(frame, &buffer);
  const int kChecks = 200000;
  std::vector<double> ns;
  for (int pass = 0; pass < 5; ++pass) {
    auto t0 = std::chrono::steady_clock::now();
    int ok = 0;
    for (int i = 0; i < kChecks; ++i) ok += ipc::checkRequestStrings(*request, frame.size()).isOk();
    REQUIRE(ok == kChecks);
    ns.push_back(std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / kChecks);
  }
  std::sort(ns.begin(), ns.end());
  std::printf("bench: checking the strings of a %zu-byte request frame (9 messages, a tool): %.0f ns (median of 5 "
              "passes of %d)\n", frame.size(), ns[2], kChecks);
}
