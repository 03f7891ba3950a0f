// Cost accounting through the real daemon and the scripted upstream: a priced answer's USD on
// ResponseEnd, the HTTP front's x-outrigger-cost-usd, the finished record and its span, and the
// token and cost counters on /metrics; an unpriced model counted as such, never guessed at.
#include <catch2/catch.hpp>

#include <curl/curl.h>

#include <csignal>
#include <fstream>
#include <cstdlib>
#include <regex>
#include <string>
#include <thread>

#include <outrigger/client.h>

#include "daemon_rig.h"
#include "support/daemon_process.h"
#include "support/run_command.h"
#include "support/sdk_requests.h"
#include "curl_call.h"
#include "upstream_process.h"

using namespace outrigger;
using namespace outrigger::testing;
using namespace std::chrono_literals;

namespace {


// The value of one sample on /metrics, or -1.
double sample(const std::string& text, const std::string& series) {
  size_t at = text.find("\n" + series + " ");
  return at == std::string::npos ? -1 : std::stod(text.substr(at + series.size() + 2));
}

struct Rig {
  UpstreamProcess up;
  std::unique_ptr<DaemonProcess> daemon;
  int admin = 0, http = 0;

  // `instances` names the upstream's base URL as @UP@.
  Rig(std::string instances, const std::string& route, const std::string& extra = "") {
    REQUIRE(up.ready());
    for (size_t at; (at = instances.find("@UP@")) != std::string::npos;) instances.replace(at, 4, up.baseUrl());
    ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test", 1);
    ::setenv("OUTRIGGER_TEST_ANTHROPIC_KEY", "sk-ant-test", 1);
    daemon = std::make_unique<DaemonProcess>(daemonHead() + instances +
                                             "[admin]\nlisten = \"127.0.0.1:0\"\n[http]\nlisten = [\"127.0.0.1:0\"]\n" +
                                             "[routes.default]\nexporters = [\"records\"]\n" + route + extra);
    REQUIRE(daemon->waitReady());
    admin = boundPort(*daemon, "admin endpoints");
    http = boundPort(*daemon, "OpenAI-compatible API");
    REQUIRE(admin != 0);
    REQUIRE(http != 0);
  }
  std::string metrics() { return curlCall("http://127.0.0.1:" + std::to_string(admin) + "/metrics").body; }
  std::vector<std::string> stop() {
    daemon->signal(SIGTERM);
    int code = daemon->waitExit(10s);
    INFO(daemon->log());
    REQUIRE(code == 0);
    return records(daemon->dir());
  }
};

std::string anthropicInstance(const std::string& name, const std::string& base_url) {
  return "[instances." + name + "]\ntype = \"provider.anthropic\"\n[instances." + name + ".config]\n" +
         "base_url = \"" + base_url + "\"\napi_key = \"${OUTRIGGER_TEST_ANTHROPIC_KEY}\"\n";
}

}  // namespace

TEST_CASE("cost via daemon: an OpenAI answer is priced on ResponseEnd, the HTTP header, the record and /metrics") {
  Rig rig(openaiInstance("openai", "@UP@"), "provider = \"openai\"\nmodel = \"gpt-4o\"\n");
  // The upstream answers as gpt-4o does: a dated model id, cached prompt tokens.
  REQUIRE(rig.up.script(R"([{"model":"gpt-4o-2024-08-06","repeat":2,"usage":{"prompt_tokens":2300,
    "completion_tokens":180,"total_tokens":2480,"prompt_tokens_details":{"cached_tokens":2048},
    "completion_tokens_details":{"reasoning_tokens":0}}}])"));
  const double hand = (2300 - 2048) * 2.50e-6 + 2048 * 1.25e-6 + 180 * 10.0e-6;  // gpt-4o's prices

  auto r = client::Client(at(*rig.daemon)).chat(ask("price me"));
  REQUIRE(r.ok());
  CHECK(r.value().usage.cached_tokens == 2048);
  CHECK(r.value().cost_usd == Approx(hand).epsilon(0).margin(1e-9));

  std::string head = curlCall("http://127.0.0.1:" + std::to_string(rig.http) + "/v1/chat/completions",
                              R"({"model":"default","temperature":0.7,"max_tokens":50,"messages":[{"role":"user","content":"price me"}]})")
                         .head;
  std::smatch m;
  REQUIRE(std::regex_search(head, m, std::regex("x-outrigger-cost-usd: ([0-9.e+-]+)", std::regex::icase)));
  CHECK(std::stod(m[1]) == Approx(hand).epsilon(0).margin(1e-9));

  std::string text = rig.metrics();
  const std::string labels = R"(route="default",provider="openai",model="gpt-4o-2024-08-06")";
  CHECK(sample(text, "outrigger_cost_usd_total{" + labels + "}") == Approx(2 * hand).epsilon(0).margin(1e-9));
  CHECK(sample(text, "outrigger_tokens_total{" + labels + ",type=\"input\"}") == 4600);
  CHECK(sample(text, "outrigger_tokens_total{" + labels + ",type=\"cache_read\"}") == 4096);
  CHECK(sample(text, "outrigger_tokens_total{" + labels + ",type=\"output\"}") == 360);
  CHECK(sample(text, "outrigger_cost_unpriced_total{" + labels + "}") == 0);
  CHECK(sample(text, "outrigger_usage_series_overflow_total") == 0);

  auto lines = rig.stop();
  REQUIRE(lines.size() == 2);
  auto record = parseJson(lines[0]);
  CHECK(record["cost_usd"].GetDouble() == Approx(hand).epsilon(0).margin(1e-9));
  CHECK_FALSE(record.HasMember("cost_unpriced"));
  CHECK(lines[0].find(R"("outrigger.cost.source":"table")") != std::string::npos);
  CHECK(lines[0].find(R"("outrigger.cost.price":"openai/gpt-4o")") != std::string::npos);
  CHECK(lines[0].find(R"("gen_ai.response.id":"chatcmpl-test")") != std::string::npos);
  // The sampling parameters the HTTP caller set are on its attempt span; the SDK call set none.
  CHECK(lines[1].find(R"("gen_ai.request.temperature":"0.7")") != std::string::npos);
  CHECK(lines[1].find(R"("gen_ai.request.max_tokens":"50")") != std::string::npos);
  CHECK(lines[0].find("gen_ai.request.temperature") == std::string::npos);
}

TEST_CASE("cost via daemon: Anthropic cache writes reach the client and are priced above plain input") {
  Rig rig(anthropicInstance("claude", "@UP@"), "provider = \"claude\"\nmodel = \"claude-sonnet-4-0\"\n");
  REQUIRE(rig.up.script(R"([{"model":"claude-sonnet-4-20250514","usage":{"input_tokens":12,
    "cache_creation_input_tokens":100,"cache_read_input_tokens":2000,"output_tokens":9}}])"));
  auto r = client::Client(at(*rig.daemon)).chat(ask("cache me"));
  REQUIRE(r.ok());
  CHECK(r.value().usage.prompt_tokens == 2112);
  CHECK(r.value().usage.cached_tokens == 2000);
  CHECK(r.value().usage.cache_write_tokens == 100);
  CHECK(r.value().cost_usd == Approx(12 * 3e-6 + 100 * 3.75e-6 + 2000 * 0.30e-6 + 9 * 15e-6).epsilon(0).margin(1e-9));
  std::string text = rig.metrics();
  CHECK(sample(text, R"(outrigger_tokens_total{route="default",provider="claude",model="claude-sonnet-4-20250514",type="cache_write"})") == 100);
  // A streamed answer's id comes from message_start: both reach the attempt span as gen_ai.response.id.
  client::Client streamer(at(*rig.daemon));
  auto s = streamer.stream(ask("stream me"));
  client::Chunk chunk;
  while (s.next(&chunk)) {
  }
  REQUIRE(s.result().ok());
  auto lines = rig.stop();
  REQUIRE(lines.size() == 2);
  for (const std::string& line : lines) CHECK(line.find(R"("gen_ai.response.id":"msg_test")") != std::string::npos);
}

TEST_CASE("cost via daemon: an unpriced model costs 0 and is counted, a config price entry prices it") {
  Rig rig(openaiInstance("vllm", "@UP@"), "provider = \"vllm\"\n",
          "[prices.\"vllm/house-model\"]\ninput = 1e-6\noutput = 2e-6\ncache_read = 5e-7\n");
  client::Client c(at(*rig.daemon));
  auto unknown = ask("who prices me");
  unknown.model = "mystery-model";  // no route of that name: the default route, the caller's model
  auto r = c.chat(unknown);
  REQUIRE(r.ok());
  CHECK(r.value().usage.prompt_tokens == 12);
  CHECK(r.value().cost_usd == 0);
  auto house = ask("price me");
  house.model = "house-model";
  auto priced = c.chat(house);
  REQUIRE(priced.ok());
  // The upstream's usage: 12 prompt tokens (4 cached), 5 completion tokens.
  CHECK(priced.value().cost_usd == Approx(8 * 1e-6 + 4 * 5e-7 + 5 * 2e-6).epsilon(0).margin(1e-9));

  std::string text = rig.metrics();
  CHECK(sample(text, R"(outrigger_cost_unpriced_total{route="default",provider="vllm",model="mystery-model"})") == 1);
  CHECK(sample(text, R"(outrigger_cost_usd_total{route="default",provider="vllm",model="mystery-model"})") == 0);
  CHECK(sample(text, R"(outrigger_cost_unpriced_total{route="default",provider="vllm",model="house-model"})") == 0);
  auto lines = rig.stop();
  REQUIRE(lines.size() == 2);
  CHECK(parseJson(lines[0])["cost_unpriced"].GetBool());
  CHECK(lines[0].find(R"("outrigger.cost.source":"unpriced")") != std::string::npos);
  CHECK_FALSE(parseJson(lines[1]).HasMember("cost_unpriced"));
}

TEST_CASE("records via daemon: the settings a caller sent and what the upstream said of its answer are recorded") {
  Rig rig(openaiInstance("openai", "@UP@"), "provider = \"openai\"\n");
  REQUIRE(rig.up.script(R"([{"fault":"refusal","refusal":"No.","model":"gpt-4o-2024-08-06",
    "system_fingerprint":"fp_9f1c","service_tier":"priority"}])"));
  // Fields without a wire home travel in extra_json, to the upstream unchanged.
  const std::string extras =
      R"("service_tier":"priority","logprobs":true,"top_logprobs":2,"reasoning_effort":"low","store":false,)"
      R"("logit_bias":{"50256":-100},"prediction":{"type":"content","content":"a secret draft"},"modalities":["text"])";
  auto reply = curlCall("http://127.0.0.1:" + std::to_string(rig.http) + "/v1/chat/completions",
                        R"({"model":"gpt-4o","temperature":0.3,"user":"u-9","metadata":{"team":"search"},)" + extras +
                            R"(,"messages":[{"role":"user","content":"hi"}]})");
  INFO(reply.body);
  auto body = parseJson(reply.body);
  CHECK(std::string(body["choices"][0]["message"]["refusal"].GetString()) == "No.");
  CHECK(body["choices"][0]["message"]["content"].IsNull());
  CHECK(std::string(body["system_fingerprint"].GetString()) == "fp_9f1c");
  CHECK(std::string(body["service_tier"].GetString()) == "priority");
  CHECK(std::string(body["model"].GetString()) == "gpt-4o-2024-08-06");
  std::string log = rig.up.log();
  CHECK(log.find(R"("temperature": 0.3,)") != std::string::npos);
  CHECK(log.find(R"("prediction": {"type": "content", "content": "a secret draft"})") != std::string::npos);
  CHECK(log.find(R"("logit_bias": {"50256": -100})") != std::string::npos);

  auto lines = rig.stop();
  REQUIRE(lines.size() == 1);
  const std::string& r = lines[0];
  INFO(r);
  for (const char* attribute :
       {R"("openai.request.service_tier":"priority")", R"("outrigger.request.logprobs":"true")",
        R"("outrigger.request.top_logprobs":"2")", R"("outrigger.request.reasoning_effort":"low")",
        R"("outrigger.request.store":"false")",
        R"("outrigger.request.extra_fields":"service_tier,logprobs,top_logprobs,reasoning_effort,store,logit_bias,prediction,modalities")",
        R"("gen_ai.request.temperature":"0.3")", R"("openai.response.system_fingerprint":"fp_9f1c")",
        R"("openai.response.service_tier":"priority")", R"("outrigger.refusal":"true")",
        R"("gen_ai.response.model":"gpt-4o-2024-08-06")", R"("user":"u-9")", R"("team":"search")"}) {
    CHECK(r.find(attribute) != std::string::npos);
  }
  CHECK(r.find("a secret draft") == std::string::npos);  // content-bearing fields are named, never copied
}

TEST_CASE("records via daemon: settings beside a large extra field are recorded the same, the field's content never") {
  // Past AttemptFacts::kMaxKeptExtraJson the settings are read on the request path (a queued
  // record keeps no copy of a large body); the record must say the same.
  Rig rig(openaiInstance("openai", "@UP@"), "provider = \"openai\"\n");
  const std::string draft(8000, 'd');
  auto reply = curlCall("http://127.0.0.1:" + std::to_string(rig.http) + "/v1/chat/completions",
                        R"({"model":"gpt-4o","service_tier":"priority","store":false,"prediction":{"type":"content","content":")" +
                            draft + R"("},"messages":[{"role":"user","content":"hi"}]})");
  INFO(reply.body);
  CHECK(reply.status == 200);
  auto lines = rig.stop();
  REQUIRE(lines.size() == 1);
  const std::string& r = lines[0];
  CHECK(r.find(R"("openai.request.service_tier":"priority")") != std::string::npos);
  CHECK(r.find(R"("outrigger.request.store":"false")") != std::string::npos);
  CHECK(r.find(R"("outrigger.request.extra_fields":"service_tier,store,prediction")") != std::string::npos);
  CHECK(r.find(draft.substr(0, 64)) == std::string::npos);
}

TEST_CASE("records via daemon: a refusal is not cached, so the same question asks the provider again") {
  Rig rig(openaiInstance("openai", "@UP@") + "[instances.memory]\ntype = \"cache.memory\"\n",
          "provider = \"openai\"\ncache = \"memory\"\n");
  REQUIRE(rig.up.script(R"([{"fault":"refusal","refusal":"No.","repeat":2},{"text":"Paris."},{"text":"Rome."}])"));
  const std::string url = "http://127.0.0.1:" + std::to_string(rig.http) + "/v1/chat/completions";
  const std::string ask = R"({"model":"gpt-4o","messages":[{"role":"user","content":"capital?"}]})";
  for (int i = 0; i < 2; ++i) {
    auto body = parseJson(curlCall(url, ask).body);
    CHECK(std::string(body["choices"][0]["message"]["refusal"].GetString()) == "No.");
  }
  // An ordinary answer is stored: the third call reaches the upstream, the fourth is a hit.
  for (int i = 0; i < 2; ++i) {
    auto body = parseJson(curlCall(url, ask).body);
    CHECK(std::string(body["choices"][0]["message"]["content"].GetString()) == "Paris.");
  }
  auto log = parseJson(rig.up.log());
  CHECK(log.Size() == 3);
  rig.stop();
}

// LiteLLM names some models twice for one provider ("deepseek-chat" and "deepseek/deepseek-chat"
// both under deepseek): the import wrote two tables of one name, TOML no config could load.
TEST_CASE("prices import: a model LiteLLM names twice is written once, and a config loads the file") {
  std::string dir = makeTempDir();
  {
    std::ofstream json(dir + "/prices.json");
    json << R"({"deepseek-chat": {"litellm_provider": "deepseek", "mode": "chat",
                "input_cost_per_token": 2.7e-7, "output_cost_per_token": 1.1e-6},
               "deepseek/deepseek-chat": {"litellm_provider": "deepseek", "mode": "chat",
                "input_cost_per_token": 2.8e-7, "output_cost_per_token": 1.1e-6}})";
  }
  auto [code, out] = runCommand(std::string(OUTRIGGER_BIN) + " prices import " + dir + "/prices.json -p deepseek -o " +
                                dir + "/prices.toml 2>&1");
  INFO(out);
  REQUIRE(code == 0);
  CHECK(out.find("1 entries written") != std::string::npos);
  {
    std::ofstream cfg(dir + "/check.toml");
    cfg << "[prices]\nfile = \"prices.toml\"\n[instances.mock]\ntype = \"provider.mock\"\n"
           "[routes.default]\nprovider = \"mock\"\n";
  }
  auto [listed, table] = runCommand(std::string(OUTRIGGER_BIN) + " prices list --config " + dir + "/check.toml 2>&1");
  INFO(table);
  CHECK(listed == 0);
  CHECK(table.find("deepseek/deepseek-chat") != std::string::npos);
  CHECK(table.find("0.28") != std::string::npos);  // the later entry, per million
}
