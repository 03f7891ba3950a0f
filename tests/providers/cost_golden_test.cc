// Cost golden tests: real usage payloads, parsed by the provider plugins' own response code,
// carried into the host's Usage the way provider_done carries them, priced from the embedded
// table, and checked against a hand computation written out here (to 1e-9 USD). Each payload
// is one of the ways price tables are known to go wrong: cached prompt tokens counted twice,
// reasoning tokens billed twice or not at all, Anthropic cache writes priced as plain input.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "anthropic_wire.h"
#include "cost/price_sources.h"
#include "cost/price_table.h"
#include "openai_wire.h"
#include "sse_parser.h"

using namespace outrigger;
using outrigger::providers::Answer;

namespace {

constexpr double kTolerance = 1e-9;

// What HttpProvider::finishAnswer hands the host, read back as the host reads a provider_done.
Usage hostUsage(const Answer& a) {
  outrigger_response_view r{};
  r.hdr = OUTRIGGER_HEADER_INIT(outrigger_response_view);
  r.usage = a.usage;
  r.cache_write_tokens = a.cache_write_tokens;
  return usageOf(r);
}

const cost::PriceTable& table() { return *cost::embeddedPrices().value(); }

// The price the core would pick for an attempt on instance `instance` of plugin type `type`.
const cost::ModelPrice& priceFor(std::string_view instance, std::string_view type, std::string_view model) {
  const cost::ModelPrice* p = table().find({instance, type}, model);
  REQUIRE(p != nullptr);
  return *p;
}

Answer openaiUnary(const std::string& body) {
  Answer a;
  providers::Failure f;
  REQUIRE(providers::openai::parseChatResponse(body, &a, &f));
  REQUIRE(a.has_usage);
  return a;
}

}  // namespace

TEST_CASE("cost golden: OpenAI o4-mini with cached prompt tokens and reasoning tokens, each counted once") {
  // A reasoning model's answer: 1536 of the 1832 prompt tokens came from the prompt cache, 768
  // of the 1024 completion tokens were reasoning (billed at the output price, inside completion).
  Answer a = openaiUnary(R"({"id":"chatcmpl-BQx","object":"chat.completion","created":1745000000,
    "model":"o4-mini-2025-04-16","choices":[{"index":0,"message":{"role":"assistant","content":"42",
    "refusal":null,"annotations":[]},"finish_reason":"stop"}],
    "usage":{"prompt_tokens":1832,"completion_tokens":1024,"total_tokens":2856,
      "prompt_tokens_details":{"cached_tokens":1536,"audio_tokens":0},
      "completion_tokens_details":{"reasoning_tokens":768,"audio_tokens":0,"accepted_prediction_tokens":0,
        "rejected_prediction_tokens":0}},
    "service_tier":"default","system_fingerprint":null})");
  Usage u = hostUsage(a);
  CHECK(u.prompt_tokens == 1832);
  CHECK(u.cached_tokens == 1536);
  CHECK(u.reasoning_tokens == 768);
  const cost::ModelPrice& p = priceFor("openai", "openai", a.model);  // the dated id falls back to o4-mini
  CHECK(p.key() == "openai/o4-mini");
  // o4-mini: input $1.10, cached input $0.275, output $4.40 per 1M tokens.
  double hand = (1832 - 1536) * 1.10e-6 + 1536 * 0.275e-6 + 1024 * 4.40e-6;
  CHECK(hand == Approx(0.0052536).epsilon(0).margin(kTolerance));
  CHECK(cost::costOf(p, u) == Approx(hand).epsilon(0).margin(kTolerance));
}

TEST_CASE("cost golden: OpenAI gpt-4o streamed, usage from the include_usage chunk") {
  providers::openai::StreamDecoder dec;
  const char* events[] = {
      R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}],"usage":null})",
      R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null})",
      R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[],"usage":{"prompt_tokens":2300,"completion_tokens":180,"total_tokens":2480,"prompt_tokens_details":{"cached_tokens":2048,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}})",
      "[DONE]"};
  for (const char* e : events) {
    providers::StreamDelta d;
    providers::Failure f;
    REQUIRE(dec.decode(e, &d, &f) != providers::DecodeStep::kError);
  }
  Usage u = hostUsage(dec.summary());
  const cost::ModelPrice& p = priceFor("openai", "openai", dec.summary().model);
  CHECK(p.key() == "openai/gpt-4o");
  // gpt-4o: input $2.50, cached input $1.25, output $10 per 1M tokens.
  double hand = (2300 - 2048) * 2.50e-6 + 2048 * 1.25e-6 + 180 * 10.0e-6;
  CHECK(hand == Approx(0.00499).epsilon(0).margin(kTolerance));
  CHECK(cost::costOf(p, u) == Approx(hand).epsilon(0).margin(kTolerance));
}

TEST_CASE("cost golden: Anthropic unary with cache reads and cache writes, input_tokens excluding both") {
  Answer a;
  providers::Failure f;
  REQUIRE(providers::anthropic::parseMessagesResponse(
      R"({"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant",
      "content":[{"type":"text","text":"Hello!"}],"model":"claude-sonnet-4-20250514","stop_reason":"end_turn",
      "stop_sequence":null,"usage":{"input_tokens":12,"cache_creation_input_tokens":100,
      "cache_read_input_tokens":2000,"output_tokens":9,"service_tier":"standard"}})",
      &a, &f));
  Usage u = hostUsage(a);
  CHECK(u.prompt_tokens == 12 + 100 + 2000);  // OpenAI's sense: every input token
  CHECK(u.cached_tokens == 2000);
  CHECK(u.cache_write_tokens == 100);
  const cost::ModelPrice& p = priceFor("claude", "anthropic", a.model);
  CHECK(p.key() == "anthropic/claude-sonnet-4");
  // Sonnet 4: input $3, 5-minute cache write $3.75, cache read $0.30, output $15 per 1M tokens.
  double hand = 12 * 3e-6 + 100 * 3.75e-6 + 2000 * 0.30e-6 + 9 * 15e-6;
  CHECK(hand == Approx(0.001146).epsilon(0).margin(kTolerance));
  CHECK(cost::costOf(p, u) == Approx(hand).epsilon(0).margin(kTolerance));
}

TEST_CASE("cost golden: Anthropic stream writing the cache, output counted from message_delta") {
  providers::anthropic::StreamDecoder dec;
  const std::vector<providers::SseEvent> events = {
      {"message_start", R"({"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","model":"claude-haiku-4-5-20251001","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":1800,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":1800,"ephemeral_1h_input_tokens":0},"output_tokens":1,"service_tier":"standard"}}})", ""},
      {"content_block_start", R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})", ""},
      {"content_block_delta", R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Sure."}})", ""},
      {"content_block_stop", R"({"type":"content_block_stop","index":0})", ""},
      {"message_delta", R"({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":25,"cache_creation_input_tokens":1800,"cache_read_input_tokens":0,"output_tokens":312}})", ""},
      {"message_stop", R"({"type":"message_stop"})", ""}};
  for (const auto& e : events) {
    providers::StreamDelta d;
    providers::Failure f;
    REQUIRE(dec.decode(e, &d, &f) != providers::DecodeStep::kError);
  }
  Usage u = hostUsage(dec.summary());
  CHECK(u.prompt_tokens == 25 + 1800);
  CHECK(u.cache_write_tokens == 1800);
  CHECK(u.completion_tokens == 312);  // cumulative, not 1 + 312
  const cost::ModelPrice& p = priceFor("claude", "anthropic", dec.summary().model);
  CHECK(p.key() == "anthropic/claude-haiku-4-5");
  // Haiku 4.5: input $1, 5-minute cache write $1.25, output $5 per 1M tokens.
  double hand = 25 * 1e-6 + 1800 * 1.25e-6 + 312 * 5e-6;
  CHECK(hand == Approx(0.003835).epsilon(0).margin(kTolerance));
  CHECK(cost::costOf(p, u) == Approx(hand).epsilon(0).margin(kTolerance));
}

TEST_CASE("cost golden: an OpenAI-compatible server (DeepSeek) priced by the instance's name") {
  // DeepSeek's Chat Completions answer: its own prompt_cache_hit/miss counts beside OpenAI's
  // cached_tokens (the same tokens, never added twice), reasoning inside completion_tokens.
  Answer a = openaiUnary(R"({"id":"930c60df-bf64-41c9-a88e-3ec75f81e00e","object":"chat.completion",
    "created":1737000000,"model":"deepseek-reasoner","choices":[{"index":0,"message":{"role":"assistant",
    "content":"9.11 < 9.9","reasoning_content":"Compare the decimals."},"logprobs":null,"finish_reason":"stop"}],
    "usage":{"prompt_tokens":1200,"completion_tokens":850,"total_tokens":2050,
      "prompt_tokens_details":{"cached_tokens":1024},"completion_tokens_details":{"reasoning_tokens":700},
      "prompt_cache_hit_tokens":1024,"prompt_cache_miss_tokens":176},
    "system_fingerprint":"fp_7e73fd9a08_prod0225"})");
  Usage u = hostUsage(a);
  // [instances.deepseek] type = "provider.openai": the instance name finds deepseek/*.
  const cost::ModelPrice& p = priceFor("deepseek", "openai", a.model);
  CHECK(p.key() == "deepseek/deepseek-reasoner");
  // deepseek-reasoner: input $0.28 (cache miss), $0.028 (cache hit), output $0.42 per 1M tokens.
  double hand = 176 * 0.28e-6 + 1024 * 0.028e-6 + 850 * 0.42e-6;
  CHECK(hand == Approx(0.000434952).epsilon(0).margin(kTolerance));
  CHECK(cost::costOf(p, u) == Approx(hand).epsilon(0).margin(kTolerance));
}

TEST_CASE("cost golden: a self-hosted model behind an OpenAI-compatible server is not guessed at") {
  Answer a = openaiUnary(R"({"id":"cmpl-8f1","object":"chat.completion","created":1,
    "model":"meta-llama/Llama-3.1-8B-Instruct","choices":[{"index":0,"message":{"role":"assistant",
    "content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":40,"total_tokens":42,"completion_tokens":2}})");
  CHECK(table().find({"vllm", "openai"}, a.model) == nullptr);  // no vendor's price for our GPUs
  cost::PriceTable own;  // the operator prices its own servers: [prices."vllm/*"]
  for (const auto& e : table().entries()) own.add(*e);
  own.add({"vllm", "*", 0, 0, {}, {}, {}, 0, 0, 0, {}, "test"});
  CHECK(own.find({"vllm", "openai"}, a.model)->key() == "vllm/*");
  CHECK(cost::costOf(*own.find({"vllm", "openai"}, a.model), hostUsage(a)) == 0);
}
