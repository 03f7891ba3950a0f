// guardrail.tokens in the real daemon, on the socket and the HTTP front: PASS under the window
// with the exact count in the verdict, deny over it, trimming the oldest messages (the provider
// sees the trimmed prompt), the output limit, the answer cap, and a hot reload of the window;
// and the token limits (tenant_tpm, a target's tpm) charging a prompt its exact count.
#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include <outrigger/client.h>

#include "curl_call.h"
#include "daemon_rig.h"
#include "support/daemon_process.h"
#include "support/run_command.h"
#include "support/sdk_requests.h"

using namespace outrigger;
using namespace outrigger::testing;
using client::StatusCode;
using namespace std::chrono_literals;

namespace {

// `window`: context window of the "tiny-*" models the default and trim routes call.
std::string tokensConfig(int window = 100) {
  return daemonHead() + "[http]\nlisten = [\"127.0.0.1:0\"]\n" +
         "[instances.mock]\ntype = \"provider.mock\"\n[instances.mock.config]\nmode = \"echo\"\n"
         "allow_request_overrides = true\n"
         "[instances.tokens]\ntype = \"guardrail.tokens\"\n[instances.tokens.config]\naction = \"deny\"\n"
         "always_count = true\n"
         "routes = { trim = \"trim_oldest\", fit = \"cap_max_tokens\" }\n"
         "[[instances.tokens.config.models]]\nmatch = \"tiny-*\"\nencoding = \"o200k_base\"\ncontext_window = " +
         std::to_string(window) + "\nmax_output = 50\n" +
         "[instances.answer_cap]\ntype = \"guardrail.tokens\"\n[instances.answer_cap.config]\n"
         "use_model_table = false\nalways_count = true\ndefault_encoding = \"cl100k_base\"\nmax_answer_tokens = 5\nanswer_action = \"deny\"\n"
         "[routes.default]\nguardrails = [\"tokens\"]\nprovider = \"mock\"\nmodel = \"tiny-model\"\n"
         "exporters = [\"records\"]\ncapture = \"full\"\n"
         "[routes.trim]\nguardrails = [\"tokens\"]\nprovider = \"mock\"\nmodel = \"tiny-model\"\n"
         "exporters = [\"records\"]\ncapture = \"full\"\n"
         "[routes.fit]\nguardrails = [\"tokens\"]\nprovider = \"mock\"\nmodel = \"tiny-model\"\n"
         "exporters = [\"records\"]\ncapture = \"full\"\n"
         "[routes.capped]\nguardrails = [\"answer_cap\"]\nprovider = \"mock\"\nmodel = \"some-local-model\"\n"
         "[instances.by_bytes]\ntype = \"guardrail.tokens\"\n[instances.by_bytes.config]\nuse_model_table = false\n"
         "[[instances.by_bytes.config.models]]\nmatch = \"tiny-*\"\nencoding = \"o200k_base\"\ncontext_window = 100\n"
         "[routes.bytes]\nguardrails = [\"by_bytes\"]\nprovider = \"mock\"\nmodel = \"tiny-model\"\n";
}

client::ChatRequest chat(const std::string& route, std::vector<client::Message> messages) {
  client::ChatRequest r;
  r.model = route;
  r.messages = std::move(messages);
  return r;
}

std::string words(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += i ? " word" : "word";
  return s;
}

const client::Verdict* verdictOf(const client::Response& r, const std::string& guardrail) {
  for (const auto& v : r.verdicts) {
    if (v.guardrail == guardrail) return &v;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("a prompt under the window passes with its exact chat-format count") {
  DaemonProcess d(tokensConfig());
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  // 3 + "user" (1) + "hello there" (2) + 3 for the reply = 9 o200k_base tokens.
  auto r = c.chat(chat("default", {{"user", "hello there", "", "", {}}}));
  REQUIRE(r.ok());
  CHECK(r.value().content == "hello there");
  const client::Verdict* v = verdictOf(r.value(), "tokens");
  REQUIRE(v);
  CHECK(v->verdict == 0);
  CHECK(v->reason.find("prompt 9 tokens (o200k_base) of 100") != std::string::npos);
}

TEST_CASE("a prompt whose bytes prove it fits passes uncounted, and one near the window is counted") {
  DaemonProcess d(tokensConfig());
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  auto r = c.chat(chat("bytes", {{"user", "hello there", "", "", {}}}));
  REQUIRE(r.ok());
  const client::Verdict* v = verdictOf(r.value(), "by_bytes");
  REQUIRE(v);
  CHECK(v->reason == "prompt at most 21 tokens (o200k_base, by its bytes) of 100");
  r = c.chat(chat("bytes", {{"user", words(20), "", "", {}}}));  // 99 bytes, 27 tokens
  REQUIRE(r.ok());
  v = verdictOf(r.value(), "by_bytes");
  REQUIRE(v);
  CHECK(v->reason == "prompt 27 tokens (o200k_base) of 100");
}

TEST_CASE("a prompt over the window is denied with the counts, on the socket and over HTTP") {
  DaemonProcess d(tokensConfig());
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  auto r = c.chat(chat("default", {{"user", words(120), "", "", {}}}));
  REQUIRE_FALSE(r.ok());
  // It can never pass as sent: INVALID_ARGUMENT (a 400), as the providers' own context-length errors.
  CHECK(r.error().code == StatusCode::kInvalidArgument);
  CHECK(r.error().message.find("prompt 127 tokens (o200k_base) is over the 100-token budget of tiny-model") !=
        std::string::npos);

  int port = httpPort(d);
  REQUIRE(port > 0);
  std::string url = "http://127.0.0.1:" + std::to_string(port) + "/v1/chat/completions";
  CurlReply over = curlCall(url, R"({"model":"default","messages":[{"role":"user","content":")" + words(120) + "\"}]}");
  CHECK(over.status == 400);
  CHECK(over.body.find("prompt 127 tokens") != std::string::npos);
  CurlReply under = curlCall(url, R"({"model":"default","messages":[{"role":"user","content":"hello there"}]})");
  CHECK(under.status == 200);
  CHECK(under.body.find("hello there") != std::string::npos);
}

TEST_CASE("max_tokens counts against the window and the model's output limit") {
  DaemonProcess d(tokensConfig());
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  auto req = chat("default", {{"user", words(40), "", "", {}}});  // 47 tokens
  req.max_tokens = 50;                                              // 97: fits
  REQUIRE(c.chat(req).ok());
  req.max_tokens = 51;  // over max_output 50
  auto r = c.chat(req);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("max_tokens 51 is over the 50-token output limit") != std::string::npos);
  req.messages[0].content = words(60);  // 67 + 50 > 100
  req.max_tokens = 50;
  r = c.chat(req);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("over the 50-token budget") != std::string::npos);
}

TEST_CASE("cap_max_tokens lowers max_tokens to what fits, and the provider call carries the new value") {
  DaemonProcess d(tokensConfig());
  REQUIRE(d.waitReady());
  {
    client::Client c(at(d));
    auto req = chat("fit", {{"user", words(60), "", "", {}}});  // 67 tokens: 33 left in the window of 100
    req.max_tokens = 50;
    auto r = c.chat(req);
    REQUIRE(r.ok());
    const client::Verdict* v = verdictOf(r.value(), "tokens");
    REQUIRE(v);
    CHECK(v->verdict == 3);  // REWRITE
    CHECK(v->reason.find("max_tokens 50 capped to 33") != std::string::npos);
    req.messages[0].content = words(110);  // over the window on its own
    auto over = c.chat(req);
    REQUIRE_FALSE(over.ok());
    CHECK(over.error().code == StatusCode::kInvalidArgument);
  }
  d.signal(SIGTERM);
  REQUIRE(d.waitExit() == 0);
  auto lines = records(d.dir());
  REQUIRE(lines.size() >= 1);
  // The provider attempt's span records the max_tokens the provider was called with.
  size_t at = lines[0].find("gen_ai.request.max_tokens");
  REQUIRE(at != std::string::npos);
  std::string near = lines[0].substr(at, 60);
  CHECK(near.find("33") != std::string::npos);
  CHECK(near.find("50") == std::string::npos);
}

TEST_CASE("trim_oldest drops the oldest non-system messages and the provider sees the trimmed prompt") {
  DaemonProcess d(tokensConfig());
  REQUIRE(d.waitReady());
  {
    client::Client c(at(d));
    auto r = c.chat(chat("trim", {{"system", "be brief", "", "", {}},
                                  {"user", words(90), "", "", {}},
                                  {"assistant", "noted", "", "", {}},
                                  {"user", "last question", "", "", {}}}));
    REQUIRE(r.ok());
    CHECK(r.value().content == "last question");
    // The mock counts the words it was sent: "be brief" + "noted" + "last question".
    CHECK(r.value().usage.prompt_tokens == 5);
    const client::Verdict* v = verdictOf(r.value(), "tokens");
    REQUIRE(v);
    CHECK(v->verdict == 3);
    CHECK(v->reason.find("dropped the oldest 1 non-system message(s)") != std::string::npos);

    // Over HTTP too; with only the last message over the window the request is denied.
    std::string url = "http://127.0.0.1:" + std::to_string(httpPort(d)) + "/v1/chat/completions";
    CurlReply trimmed = curlCall(url, R"({"model":"trim","messages":[{"role":"user","content":")" + words(90) +
                                           R"("},{"role":"user","content":"short"}]})");
    CHECK(trimmed.status == 200);
    CHECK(trimmed.body.find(R"("prompt_tokens":1)") != std::string::npos);
    CurlReply hopeless = curlCall(url, R"({"model":"trim","messages":[{"role":"user","content":")" + words(120) + "\"}]}");
    CHECK(hopeless.status == 400);
    CHECK(hopeless.body.find("cannot be trimmed") != std::string::npos);
  }
  d.signal(SIGTERM);
  REQUIRE(d.waitExit() == 0);
  auto lines = records(d.dir());
  REQUIRE(lines.size() >= 1);
  rapidjson::Document rec = parseJson(lines[0]);
  REQUIRE(rec.HasMember("prompt"));
  REQUIRE(rec["prompt"].IsArray());
  REQUIRE(rec["prompt"].Size() == 3);
  CHECK(std::string(rec["prompt"][1]["content"].GetString()) == "noted");
}

TEST_CASE("the answer side counts output tokens and denies an answer over max_answer_tokens") {
  DaemonProcess d(tokensConfig());
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  auto ok = c.chat(chat("capped", {{"user", "one two three", "", "", {}}}));
  REQUIRE(ok.ok());
  const client::Verdict* v = verdictOf(ok.value(), "answer_cap");
  REQUIRE(v);
  // The record keeps a guardrail's most severe verdict: both sides passed, the first reason stays.
  CHECK(v->verdict == 0);
  CHECK(v->reason == "prompt 10 tokens (cl100k_base)");
  auto long_answer = c.chat(chat("capped", {{"user", words(10), "", "", {}}}));
  REQUIRE_FALSE(long_answer.ok());
  CHECK(long_answer.error().code == StatusCode::kPermissionDenied);
  INFO(long_answer.error().message);
  CHECK(long_answer.error().message.find("answer 10 tokens (cl100k_base), over max_answer_tokens 5") != std::string::npos);
}

TEST_CASE("a streamed answer over max_answer_tokens stops at the chunk that crosses the cap, before it goes out") {
  DaemonProcess d(tokensConfig());
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  client::ChatRequest req = chat("capped", {{"user", words(10), "", "", {}}});
  req.extra_json = R"({"mock":{"chunks":10}})";
  auto s = c.stream(req);
  std::string joined;
  client::Chunk chunk;
  while (s.next(&chunk)) joined += chunk.delta;
  auto end = s.result();
  REQUIRE_FALSE(end.ok());
  CHECK(end.error().code == StatusCode::kPermissionDenied);
  CHECK(end.error().message.find("over max_answer_tokens 5") != std::string::npos);
  // Some of the answer went out, and never past the cap: 5 tokens are at most 5 words here.
  CHECK_FALSE(joined.empty());
  size_t said = 0;
  for (size_t at = joined.find("word"); at != std::string::npos; at = joined.find("word", at + 1)) ++said;
  CHECK(said <= 5);
}

TEST_CASE("a reload changes the window the next requests are held to") {
  DaemonProcess d(tokensConfig(100));
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  auto req = chat("default", {{"user", words(60), "", "", {}}});  // 67 tokens
  REQUIRE(c.chat(req).ok());
  d.writeConfig(tokensConfig(50));
  d.signal(SIGHUP);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (d.log().find("config generation 2 is live") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  auto r = c.chat(req);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("over the 50-token budget") != std::string::npos);
}

TEST_CASE("the example config checks, and a bad action or an unknown key is refused") {
  auto [code, out] = runCommand(std::string(OUTRIGGER_BIN) + " check --config " OUTRIGGER_SOURCE_DIR
                                "/config/context_windows.toml");
  CHECK(code == 0);
  CHECK(out.find("guardrail  context          guardrail.tokens") != std::string::npos);

  std::string dir = makeTempDir();
  std::string bad = "[plugins]\ndirs = [\"" OUTRIGGER_PLUGIN_DIR "\"]\n"
                    "[instances.mock]\ntype = \"provider.mock\"\n"
                    "[instances.t]\ntype = \"guardrail.tokens\"\n[instances.t.config]\naction = \"shrink\"\n"
                    "[routes.default]\nguardrails = [\"t\"]\nprovider = \"mock\"\n";
  std::ofstream(dir + "/bad.toml") << bad;
  auto [bad_code, bad_out] = runCommand(std::string(OUTRIGGER_BIN) + " check --config " + dir + "/bad.toml");
  CHECK(bad_code != 0);
  CHECK(bad_out.find("action") != std::string::npos);
  std::ofstream(dir + "/unknown.toml") << std::string(bad).replace(bad.find("action = \"shrink\""), 17, "windw = 5");
  auto [unknown_code, unknown_out] = runCommand(std::string(OUTRIGGER_BIN) + " check --config " + dir + "/unknown.toml");
  CHECK(unknown_code != 0);
  CHECK(unknown_out.find("windw") != std::string::npos);
}

namespace {

// Token limits charge a prompt before its answer: counted exactly for a model whose encoding is
// known (gpt-4o*), estimated as its bytes / 4 for one that is not (llama-*). Each route has its
// own model, so no two share a target's buckets.
std::string limitsConfig() {
  return daemonHead() +
         "[instances.primary]\ntype = \"provider.mock\"\n[instances.primary.config]\nmode = \"echo\"\n"
         "allow_request_overrides = true\nmodel = \"primary\"\n"
         "[instances.backup]\ntype = \"provider.mock\"\n[instances.backup.config]\nmode = \"echo\"\nmodel = \"backup\"\n"
         "[routes.counted]\nprovider = \"primary\"\nmodel = \"gpt-4o\"\ntenant_tpm = 200\n"
         "[routes.estimated]\nprovider = \"primary\"\nmodel = \"llama-a\"\ntenant_tpm = 200\n"
         "[routes.large]\nprovider = \"primary\"\nmodel = \"gpt-4o-2024-08-06\"\ntenant_tpm = 700000\n"
         "[routes.counted_target]\ntargets = [{ provider = \"primary\", model = \"gpt-4o-mini\", tpm = 200 }, "
         "{ provider = \"backup\", model = \"gpt-4o-mini\" }]\n"
         "[routes.estimated_target]\ntargets = [{ provider = \"primary\", model = \"llama-b\", tpm = 200 }, "
         "{ provider = \"backup\", model = \"llama-b\" }]\n";
}

// " a" 100 times: 107 o200k_base tokens as a chat prompt (3 + "user" + 100 + 3 for the reply),
// 50 by its 200 bytes / 4. Two at once need 214 of 200 counted, 100 estimated.
const std::string kHundredAs = [] {
  std::string s;
  for (int i = 0; i < 100; ++i) s += " a";
  return s;
}();

struct TwoAtOnce {
  std::vector<client::Result<client::Response>> results;
  int ok() const {
    int n = 0;
    for (const auto& r : results) n += r.ok();
    return n;
  }
  // How many were answered by the mock instance whose answers name `model`.
  int answeredBy(const std::string& model) const {
    int n = 0;
    for (const auto& r : results) n += r.ok() && r.value().model == model;
    return n;
  }
};

// Two requests whose answers take 1.5 s, the second sent 300 ms after the first: both are in
// flight together whichever the daemon reads first.
TwoAtOnce twoAtOnce(const DaemonProcess& d, const std::string& route, const std::string& prompt = kHundredAs) {
  std::optional<client::Result<client::Response>> first, second;
  client::ChatRequest slow = chat(route, {{"user", prompt, "", "", {}}});
  slow.extra_json = R"({"mock": {"latency_ms": 1500}})";
  std::thread a([&] { first.emplace(client::Client(at(d)).chat(slow)); });
  std::this_thread::sleep_for(300ms);
  second.emplace(client::Client(at(d)).chat(slow));
  a.join();
  TwoAtOnce out;
  out.results.push_back(std::move(*first));
  out.results.push_back(std::move(*second));
  return out;
}

}  // namespace

TEST_CASE("tenant_tpm charges an o200k_base model's prompt its exact token count, an unknown model's its bytes / 4") {
  DaemonProcess d(limitsConfig());
  REQUIRE(d.waitReady());
  TwoAtOnce counted = twoAtOnce(d, "counted");
  REQUIRE(counted.ok() == 1);  // 107 + 107 > 200
  for (const auto& r : counted.results) {
    if (r.ok()) continue;
    CHECK(r.error().code == StatusCode::kResourceExhausted);
    CHECK(r.error().message.find("token rate limit") != std::string::npos);
  }
  TwoAtOnce estimated = twoAtOnce(d, "estimated");
  CHECK(estimated.ok() == 2);  // 50 + 50 <= 200
}

TEST_CASE("a target's tpm charges the exact count too: the second request falls back while the first holds it") {
  DaemonProcess d(limitsConfig());
  REQUIRE(d.waitReady());
  TwoAtOnce counted = twoAtOnce(d, "counted_target");
  REQUIRE(counted.ok() == 2);
  CHECK(counted.answeredBy("primary") == 1);
  CHECK(counted.answeredBy("backup") == 1);  // 93 tokens left do not fit 107
  TwoAtOnce estimated = twoAtOnce(d, "estimated_target");
  REQUIRE(estimated.ok() == 2);
  CHECK(estimated.answeredBy("primary") == 2);  // 150 left fit 50
}

TEST_CASE("a prompt of more than 1 MiB of text is charged its bytes / 4, not counted") {
  DaemonProcess d(limitsConfig());
  REQUIRE(d.waitReady());
  // " a" 600,000 times: 600,007 tokens counted, 300,000 estimated. Two at once against 700,000 a
  // minute fit only as estimates.
  std::string large;
  for (int i = 0; i < 600000; ++i) large += " a";
  TwoAtOnce both = twoAtOnce(d, "large", large);
  CHECK(both.ok() == 2);
}

namespace {

// Models whose limits say what the old reading of them got wrong: gpt-5's answer does not share
// the prompt's limit (272k of a 400k window, here scaled down), a rule without an encoding still
// has an output limit, and cap_max_tokens caps to max_output when no window is known.
std::string modelLimitsConfig() {
  return daemonHead() +
         "[instances.mock]\ntype = \"provider.mock\"\n[instances.mock.config]\nmode = \"echo\"\n"
         "[instances.tokens]\ntype = \"guardrail.tokens\"\n[instances.tokens.config]\nalways_count = true\n"
         "routes = { fit = \"cap_max_tokens\", fit_unknown = \"cap_max_tokens\" }\n"
         "[[instances.tokens.config.models]]\nmatch = \"wide-model\"\nencoding = \"o200k_base\"\n"
         "context_window = 400\nmax_input = 272\nmax_output = 128\n"
         "[[instances.tokens.config.models]]\nmatch = \"no-encoding-model\"\ncontext_window = 1000\nmax_output = 100\n"
         "[[instances.tokens.config.models]]\nmatch = \"output-only-model\"\nencoding = \"o200k_base\"\nmax_output = 100\n"
         "[routes.wide]\nguardrails = [\"tokens\"]\nprovider = \"mock\"\nmodel = \"wide-model\"\n"
         "[routes.unknown]\nguardrails = [\"tokens\"]\nprovider = \"mock\"\nmodel = \"no-encoding-model\"\n"
         "[routes.fit_unknown]\nguardrails = [\"tokens\"]\nprovider = \"mock\"\nmodel = \"no-encoding-model\"\n"
         "[routes.fit]\nguardrails = [\"tokens\"]\nprovider = \"mock\"\nmodel = \"output-only-model\"\n";
}

}  // namespace

TEST_CASE("max_input bounds the prompt apart from the window, as gpt-5's 272k of 400k") {
  DaemonProcess d(modelLimitsConfig());
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  auto req = chat("wide", {{"user", words(150), "", "", {}}});  // 157 tokens
  req.max_tokens = 128;  // 285 of the 400 window: fits, though over 272 together
  auto fits = c.chat(req);
  INFO((fits.ok() ? std::string() : fits.error().message));
  REQUIRE(fits.ok());
  req.messages[0].content = words(280);  // 287 tokens: over the prompt's own limit, with room in the window
  req.max_tokens = 10;
  auto over = c.chat(req);
  REQUIRE_FALSE(over.ok());
  CHECK(over.error().code == StatusCode::kInvalidArgument);
  CHECK(over.error().message.find("over the 272-token budget of wide-model") != std::string::npos);
  CHECK(over.error().message.find("at most 272 for the prompt") != std::string::npos);
}

TEST_CASE("a model without an encoding is still held to its output limit, and cap_max_tokens caps to max_output") {
  DaemonProcess d(modelLimitsConfig());
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  auto req = chat("unknown", {{"user", words(10), "", "", {}}});
  req.max_tokens = 5000;
  auto over = c.chat(req);
  REQUIRE_FALSE(over.ok());
  CHECK(over.error().code == StatusCode::kInvalidArgument);
  CHECK(over.error().message.find("max_tokens 5000 is over the 100-token output limit of no-encoding-model") !=
        std::string::npos);
  req.max_tokens = 100;
  CHECK(c.chat(req).ok());  // the window is not checked without a count: the unknown_model verdict (pass)

  auto capped_unknown = chat("fit_unknown", {{"user", words(10), "", "", {}}});
  capped_unknown.max_tokens = 5000;
  auto r = c.chat(capped_unknown);
  REQUIRE(r.ok());
  const client::Verdict* v = verdictOf(r.value(), "tokens");
  REQUIRE(v);
  CHECK(v->verdict == 3);  // REWRITE
  CHECK(v->reason.find("capped to the 100-token output limit") != std::string::npos);

  auto capped = chat("fit", {{"user", words(10), "", "", {}}});
  capped.max_tokens = 500;
  r = c.chat(capped);
  REQUIRE(r.ok());
  v = verdictOf(r.value(), "tokens");
  REQUIRE(v);
  CHECK(v->verdict == 3);
  CHECK(v->reason.find("max_tokens 500 capped to 100 to fit the 100-token output limit of output-only-model") !=
        std::string::npos);
}

namespace {

// Limits from the config's [prices] and nowhere else: a model of the deployment's own
// (acme-llm, called dated) and an override of the compiled-in gpt-4o, both on the mock provider.
std::string pricesConfig(int acme_window) {
  return daemonHead() +
         "[instances.mock]\ntype = \"provider.mock\"\n[instances.mock.config]\nmode = \"echo\"\n"
         "[instances.tokens]\ntype = \"guardrail.tokens\"\n[instances.tokens.config]\nalways_count = true\n"
         "default_encoding = \"o200k_base\"\n"
         "[prices.\"acme/acme-llm\"]\ninput = 0\noutput = 0\ncontext_window = " + std::to_string(acme_window) + "\n"
         "max_output = 20\n"
         "[prices.\"openai/gpt-4o\"]\ninput = 0.0000025\noutput = 0.00001\ncontext_window = 80\n"
         "[routes.acme]\nguardrails = [\"tokens\"]\nprovider = \"mock\"\nmodel = \"acme-llm-2025-01-01\"\n"
         "[routes.gpt]\nguardrails = [\"tokens\"]\nprovider = \"mock\"\nmodel = \"gpt-4o\"\n";
}

}  // namespace

TEST_CASE("context windows and output limits set in [prices] hold requests, and a reload changes them") {
  DaemonProcess d(pricesConfig(60));
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  auto acme = chat("acme", {{"user", words(60), "", "", {}}});  // 67 tokens
  auto r = c.chat(acme);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == StatusCode::kInvalidArgument);
  CHECK(r.error().message.find("over the 60-token budget of acme-llm-2025-01-01") != std::string::npos);
  acme.messages[0].content = words(10);
  acme.max_tokens = 30;
  r = c.chat(acme);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("max_tokens 30 is over the 20-token output limit") != std::string::npos);

  auto gpt = chat("gpt", {{"user", words(90), "", "", {}}});  // 97 tokens: under the compiled-in 128k
  r = c.chat(gpt);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("over the 80-token budget of gpt-4o") != std::string::npos);

  d.writeConfig(pricesConfig(200));
  d.signal(SIGHUP);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (d.log().find("config generation 2 is live") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  acme.messages[0].content = words(60);
  acme.max_tokens = 10;
  auto fits = c.chat(acme);
  INFO((fits.ok() ? std::string() : fits.error().message));
  REQUIRE(fits.ok());
  const client::Verdict* v = verdictOf(fits.value(), "tokens");
  REQUIRE(v);
  CHECK(v->reason.find("of 200") != std::string::npos);
}
