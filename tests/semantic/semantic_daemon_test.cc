// cache.semantic in the real daemon, as a process: provider.openai on the scripted upstream
// (tests/upstream/upstream.py) answers the chat route, provider.wordllama embeds on the "embed"
// route through the host. Tenants are hard partitions, paraphrases hit, negations do not, a
// streamed request gets a hit as chunks, and every lookup's span carries the best similarity.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <outrigger/plugin.h>

#include "daemon_rig.h"
#include "support/admin_metrics.h"
#include "support/daemon_process.h"
#include "support/raw_http.h"
#include "support/socket_answer.h"
#include "upstream_process.h"

using namespace outrigger::testing;

namespace {

const char kModelDir[] = OUTRIGGER_WORDLLAMA_MODEL;

struct Rig {
  UpstreamProcess upstream;
  std::unique_ptr<DaemonProcess> daemon;

  // `embed_route_extra`: more keys for the embed route (its limits, say); `embed_provider`: the
  // instance it calls (the local model, or "openai": the scripted upstream's embeddings).
  explicit Rig(const std::string& cache_extra = "", const std::string& embed_route_extra = "",
               const std::string& embed_provider = "local_embed") {
    REQUIRE(upstream.ready());
    ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test", 1);
    daemon = std::make_unique<DaemonProcess>(config(cache_extra, embed_route_extra, embed_provider));
    if (!daemon->waitReady()) FAIL("the daemon did not start:\n" << daemon->log());
  }

  std::string config(const std::string& cache_extra, const std::string& embed_route_extra,
                     const std::string& embed_provider) const {
    return daemonHead() + openaiInstance("openai", upstream.baseUrl()) +
           "[instances.local_embed]\ntype = \"provider.wordllama\"\n[instances.local_embed.config]\n"
           "tokenizer = \"" + std::string(kModelDir) + "/l2_supercat_tokenizer_config.json\"\n"
           "weights = \"" + std::string(kModelDir) + "/l2_supercat_256.safetensors\"\n"
           "[instances.semantic]\ntype = \"cache.semantic\"\n[instances.semantic.config]\n"
           "embed_route = \"embed\"\n" + cache_extra +
           "[routes.default]\ncache = [\"semantic\"]\nprovider = \"openai\"\nmodel = \"gpt-test\"\n"
           "exporters = [\"records\"]\ncalls = [\"embed\"]\ncache_replay_chunk_bytes = 8\n"
           "[routes.embed]\nprovider = \"" + embed_provider + "\"\n" + embed_route_extra + "[admin]\nlisten = \"127.0.0.1:0\"\n"
           "[http]\nlisten = \"127.0.0.1:0\"\n";
  }

  void answers(const std::vector<std::string>& texts) {
    std::string all = "[";
    for (size_t i = 0; i < texts.size(); ++i) all += (i ? "," : "") + (R"({"text":)" + jsonQuoted(texts[i]) + R"(,"pieces":3})");
    REQUIRE(upstream.script(all + "]"));
  }
  size_t upstreamCalls() {
    rapidjson::Document l = parseJson(upstream.log());
    return l.IsArray() ? l.Size() : 0;
  }
};

SocketAnswer ask(const Rig& rig, const std::string& tenant, const std::string& text, bool stream = false) {
  RequestSpec spec;
  spec.tenant = tenant;
  spec.messages = {{"system", "Answer briefly."}, {"user", text}};
  spec.stream = stream;
  return socketExchange(*rig.daemon, spec, "");
}

}  // namespace

TEST_CASE("identical prompts from two tenants never hit each other's entries") {
  Rig rig;
  rig.answers({"answer for tenant a", "answer for tenant b"});
  const std::string q = "What is the capital of France?";
  CHECK(ask(rig, "tenant-a", q).content == "answer for tenant a");
  CHECK(rig.upstreamCalls() == 1);
  SocketAnswer b = ask(rig, "tenant-b", q);  // the same words: still a miss for another tenant
  CHECK(b.content == "answer for tenant b");
  CHECK(rig.upstreamCalls() == 2);
  // Each tenant's repeat is a hit on its own entry, never the other's.
  for (int i = 0; i < 3; ++i) {
    CHECK(ask(rig, "tenant-a", q).content == "answer for tenant a");
    CHECK(ask(rig, "tenant-b", q).content == "answer for tenant b");
  }
  CHECK(rig.upstreamCalls() == 2);
}

TEST_CASE("a paraphrase is served from the cache, a negation and a changed number are not") {
  Rig rig;
  rig.answers({"Use the reset link.", "Because of the lock.", "Cook 1 cup.", "Cook 3 cups."});
  CHECK(ask(rig, "t", "How do I reset my password?").content == "Use the reset link.");
  SocketAnswer para = ask(rig, "t", "How can I reset my password?");
  CHECK(para.status == OUTRIGGER_CODE_OK);
  CHECK(para.content == "Use the reset link.");
  CHECK(rig.upstreamCalls() == 1);
  CHECK(ask(rig, "t", "How do I not reset my password?").content == "Because of the lock.");
  CHECK(rig.upstreamCalls() == 2);
  CHECK(ask(rig, "t", "How much rice do I cook for 2 people?").content == "Cook 1 cup.");
  CHECK(ask(rig, "t", "How much rice do I cook for 6 people?").content == "Cook 3 cups.");
  CHECK(rig.upstreamCalls() == 4);
  // The guard, not the threshold, turned the negation and the other number away.
  std::string metrics = adminMetricsText(*rig.daemon);
  CHECK(metrics.find(R"(outrigger_semantic_cache_hits_total{plugin_instance="semantic"} 1)") != std::string::npos);
  CHECK(metrics.find(R"(outrigger_semantic_cache_guard_refusals_total{plugin_instance="semantic"} 2)") != std::string::npos);
  CHECK(metrics.find(R"(outrigger_semantic_cache_entries{plugin_instance="semantic"} 4)") != std::string::npos);
}

TEST_CASE("vectors that are not unit length are scaled to it: an unrelated question misses, the same one hits") {
  // The upstream's "by_text" vectors are counts of letters, digits, spaces and the rest: far from
  // unit length. As raw dot products any two questions scored far past the threshold.
  Rig rig("dimensions = 4\n", "model = \"emb\"\n", "openai");
  const std::string embed = R"({"vectors":"by_text"})";
  REQUIRE(rig.upstream.script("[" + embed + R"(,{"text":"Paris."},)" + embed + R"(,{"text":"Because."},)" + embed + "]"));
  CHECK(ask(rig, "t", "What is the capital of France").content == "Paris.");
  SocketAnswer other = ask(rig, "t", "Why?? Why??? Why????");
  CHECK(other.status == OUTRIGGER_CODE_OK);
  CHECK(other.content == "Because.");
  SocketAnswer same = ask(rig, "t", "What is the capital of France");
  CHECK(same.content == "Paris.");
  CHECK(rig.upstreamCalls() == 5);  // three embeddings, two answers
}

TEST_CASE("a streamed request gets a cached answer as chunks") {
  Rig rig;
  rig.answers({"Use the reset link on the sign-in page."});
  CHECK(ask(rig, "t", "How do I reset my password?").content == "Use the reset link on the sign-in page.");
  SocketAnswer streamed = ask(rig, "t", "How can I reset my password?", true);
  CHECK(streamed.status == OUTRIGGER_CODE_OK);
  CHECK(streamed.streamed == "Use the reset link on the sign-in page.");
  CHECK(streamed.chunks.size() >= 4);  // replayed 8 bytes at a time
  CHECK(rig.upstreamCalls() == 1);
}

TEST_CASE("every lookup's span carries the best similarity and the threshold, on a miss and on a hit") {
  Rig rig;
  rig.answers({"first"});
  ask(rig, "t", "How do I reset my password?");
  ask(rig, "t", "How can I reset my password?");
  std::string records = awaitRecords(*rig.daemon, 2);
  CHECK(records.find(R"("outrigger.cache.semantic.similarity":"none")") != std::string::npos);  // empty partition
  CHECK(records.find(R"("outrigger.cache.semantic.threshold":"0.9500")") != std::string::npos);
  CHECK(records.find(R"("outcome":"hit")") != std::string::npos);
  CHECK(records.find(R"("outrigger.cache.semantic.similarity":"0.9)") != std::string::npos);
}

TEST_CASE("answers that call tools or are cut short are not stored") {
  Rig rig;
  REQUIRE(rig.upstream.script(R"([{"text":"","tool_calls":[{"id":"c1","name":"lookup","arguments":"{}"}]},)"
                              R"({"text":"half an answ","finish_reason":"length"},{"text":"whole"}])"));
  ask(rig, "t", "Look up the order status for me.");
  ask(rig, "t", "Look up the order status for me.");
  CHECK(rig.upstreamCalls() == 2);  // the tool-call answer was not stored
  ask(rig, "t", "Look up the order status for me.");
  CHECK(rig.upstreamCalls() == 3);  // nor the one cut at the length limit
  CHECK(ask(rig, "t", "Look up the order status for me.").content == "whole");
  CHECK(rig.upstreamCalls() == 3);
}

TEST_CASE("store_tool_answers stores an answer that calls tools, and a hit calls them again") {
  Rig rig("store_tool_answers = true\n");
  REQUIRE(rig.upstream.script(R"([{"text":"","tool_calls":[{"id":"c1","name":"lookup","arguments":"{\"order\":7}"}]}])"));
  SocketAnswer first = ask(rig, "t", "Look up the order status for me.");
  REQUIRE(first.tool_calls.size() == 1);
  SocketAnswer again = ask(rig, "t", "Look up the order status for me.");
  REQUIRE(again.tool_calls.size() == 1);
  CHECK(again.tool_calls[0].first == "lookup");
  CHECK(again.tool_calls[0].second == R"({"order":7})");
  CHECK(rig.upstreamCalls() == 1);
}

TEST_CASE("store_incomplete stores an answer cut at the length limit") {
  Rig rig("store_incomplete = true\n");
  REQUIRE(rig.upstream.script(R"([{"text":"half an answ","finish_reason":"length"}])"));
  ask(rig, "t", "Tell me about the history of Rome.");
  CHECK(ask(rig, "t", "Tell me about the history of Rome.").content == "half an answ");
  CHECK(rig.upstreamCalls() == 1);
}

TEST_CASE("a threshold per route applies: at 1.0 only an identical question hits") {
  Rig rig("route_thresholds = { default = 1.0 }\n");
  rig.answers({"one", "two"});
  ask(rig, "t", "How do I reset my password?");
  CHECK(ask(rig, "t", "How can I reset my password?").content == "two");
  CHECK(ask(rig, "t", "How do I reset my password?").content == "one");
  CHECK(rig.upstreamCalls() == 2);
}

TEST_CASE("a caller's bypass skips the lookup and the store") {
  Rig rig;
  rig.answers({"one", "two", "three"});
  RequestSpec spec;
  spec.tenant = "t";
  spec.messages = {{"user", "What is the boiling point of water?"}};
  spec.cache_bypass = true;
  CHECK(socketExchange(*rig.daemon, spec, "").content == "one");
  CHECK(ask(rig, "t", "What is the boiling point of water?").content == "two");  // nothing was stored
  CHECK(rig.upstreamCalls() == 2);
}

namespace {

// A chat completion on the HTTP front with the caller's cache header (`header` empty: none).
HttpReply httpAsk(int port, const std::string& text, const std::string& header) {
  const std::string body = R"({"model":"default","messages":[{"role":"user","content":)" + jsonQuoted(text) + "}]}";
  std::string request = post(body);
  if (!header.empty()) request.insert(request.find("\r\n") + 2, header + "\r\n");
  return roundTrip(port, request);
}

}  // namespace

TEST_CASE("http: a caller's no-store and time to live are honoured as for the exact cache") {
  Rig rig;
  const int port = httpPort(*rig.daemon);
  REQUIRE(port > 0);
  rig.answers({"one", "two", "three", "four"});
  const std::string q = "What is the tallest mountain in the world?";
  // No-store in any case, on a line of its own after another (as HTTP/2 clients send lists).
  CHECK(httpAsk(port, q, "x-outrigger-cache: bypass\r\nx-outrigger-cache: No-Store").body.find("one") != std::string::npos);
  CHECK(httpAsk(port, q, "x-outrigger-cache-ttl-ms: 1").body.find("two") != std::string::npos);  // stored: 1 ms
  // A loopback round trip can take less than the millisecond the entry lives.
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::string third = httpAsk(port, q, "").body;
  CHECK(third.find("three") != std::string::npos);  // the 1 ms entry is gone; this one stays
  CHECK(httpAsk(port, q, "").body.find("three") != std::string::npos);
  CHECK(rig.upstreamCalls() == 3);
}

TEST_CASE("the embed route's own limits hold the cache's embed calls: over them a lookup is a miss, and the request is answered") {
  Rig rig("", "tenant_rpm = 1\n");  // one embedding a minute per tenant on the embed route
  rig.answers({"first answer", "second answer"});
  CHECK(ask(rig, "t", "How do I reset my password?").content == "first answer");
  // The paraphrase hits without the limit (above); here its embed call is over the embed route's
  // limit, so the lookup is a miss and the provider answers.
  CHECK(ask(rig, "t", "How can I reset my password?").content == "second answer");
  CHECK(rig.upstreamCalls() == 2);
  std::string metrics = adminMetricsText(*rig.daemon);
  CHECK(metrics.find(R"(outrigger_semantic_cache_embed_failures_total{plugin_instance="semantic"} 1)") != std::string::npos);
  CHECK(metrics.find(R"(outrigger_semantic_cache_hits_total{plugin_instance="semantic"} 0)") != std::string::npos);
}

// A caller with a short deadline and an embed route that hangs: the embedding may take a quarter
// of what is left, then the lookup is a miss and the provider answers in time. Given the whole
// deadline, the embedding used it up and the request failed with DEADLINE_EXCEEDED.
TEST_CASE("a hung embed route under a short caller deadline is a miss, and the provider still answers") {
  Rig rig("", "", "openai");
  REQUIRE(rig.upstream.script(R"([{"fault":"hang","ms":5000},{"text":"answered in time"}])"));
  RequestSpec spec;
  spec.tenant = "t";
  spec.messages = {{"user", "What is the capital of Peru?"}};
  spec.timeout_ms = 800;
  SocketAnswer a = socketExchange(*rig.daemon, spec, "");
  INFO(a.message);
  CHECK(a.status == 0);
  CHECK(a.content == "answered in time");
  CHECK(adminMetricsText(*rig.daemon).find(R"(outrigger_semantic_cache_embed_failures_total{plugin_instance="semantic"} 1)") !=
        std::string::npos);
}

// A provider may answer its own call CANCELLED while the request lives (provider.mock does,
// as a third party's might). The lookup took that for the request's end and never answered: the
// caller waited until its deadline.
TEST_CASE("an embed route answering CANCELLED is a miss, and the provider still answers") {
  Rig rig("[instances.cancelling]\ntype = \"provider.mock\"\n[instances.cancelling.config]\n"
          "fail_every = 1\nfail_code = \"CANCELLED\"\n",
          "", "cancelling");
  REQUIRE(rig.upstream.script(R"([{"text":"answered at once"}])"));
  RequestSpec spec;
  spec.tenant = "t";
  spec.messages = {{"user", "What is the capital of Peru?"}};
  spec.timeout_ms = 5000;
  auto began = std::chrono::steady_clock::now();
  SocketAnswer a = socketExchange(*rig.daemon, spec, "");
  INFO(a.message);
  CHECK(a.status == 0);
  CHECK(a.content == "answered at once");
  CHECK(std::chrono::steady_clock::now() - began < std::chrono::seconds(3));
  CHECK(adminMetricsText(*rig.daemon).find(R"(outrigger_semantic_cache_embed_failures_total{plugin_instance="semantic"} 1)") !=
        std::string::npos);
}

// The local model had no price: each embedding counted as unpriced, and a USD budget on the
// embed route refused every lookup's embedding (the cache never hit).
TEST_CASE("the local embedding model is priced at zero: a USD budget on the embed route lets the cache hit") {
  Rig rig("[instances.budget]\ntype = \"limiter.budget\"\n[instances.budget.config]\n"
          "window = \"daily\"\nlimit_usd = 5.0\n",
          "limiters = [\"budget\"]\n");
  rig.answers({"Use the reset link on the sign-in page."});
  CHECK(ask(rig, "t", "How do I reset my password?").content == "Use the reset link on the sign-in page.");
  CHECK(ask(rig, "t", "How can I reset my password?").content == "Use the reset link on the sign-in page.");
  CHECK(rig.upstreamCalls() == 1);
  std::string metrics = adminMetricsText(*rig.daemon);
  INFO(metrics);
  CHECK(metrics.find(R"(outrigger_semantic_cache_hits_total{plugin_instance="semantic"} 1)") != std::string::npos);
  size_t unpriced = metrics.find(R"(outrigger_cost_unpriced_total{route="embed")");
  REQUIRE(unpriced != std::string::npos);
  std::string line = metrics.substr(unpriced, metrics.find('\n', unpriced) - unpriced);
  CHECK(line.substr(line.rfind(' ') + 1) == "0");
}

// An embeddings request has no answer, but a token budget reserved its default answer size
// (4,096) for each: a budget of 2,000 tokens refused every embedding.
TEST_CASE("a token budget on the embed route reserves no answer for an embedding") {
  Rig rig("[instances.budget]\ntype = \"limiter.budget\"\n[instances.budget.config]\n"
          "window = \"daily\"\nlimit_tokens = 2000\n",
          "limiters = [\"budget\"]\n");
  HttpReply r = roundTrip(httpPort(*rig.daemon), post(R"({"model":"embed","input":"hi"})", "/v1/embeddings"));
  INFO(r.body);
  CHECK(r.status == 200);
  rig.answers({"Use the reset link on the sign-in page."});
  CHECK(ask(rig, "t", "How do I reset my password?").content == "Use the reset link on the sign-in page.");
  CHECK(ask(rig, "t", "How can I reset my password?").content == "Use the reset link on the sign-in page.");
  CHECK(rig.upstreamCalls() == 1);
}

// provider.wordllama embeds on the worker's loop. A call of thousands of long inputs (megabytes)
// is embedded a slice at a time, so a small request the same worker takes meanwhile is answered
// at once; whole, the big call held the loop for most of a second and everything waited behind it.
TEST_CASE("a large embeddings call does not hold the worker: a small one sent meanwhile is answered at once") {
  Rig rig;
  const int port = httpPort(*rig.daemon);
  REQUIRE(port > 0);
  std::string words;
  while (words.size() < 1800) words += "reliability sidecar plugin cache embedding ";
  std::string body = R"({"model":"embed","input":[)";
  for (int i = 0; i < 2000; ++i) body += (i ? "," : "") + jsonQuoted(words + std::to_string(i));
  body += "]}";
  REQUIRE(body.size() < (4u << 20));
  auto post = [](const std::string& json) {
    return "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(json.size()) + "\r\n\r\n" + json;
  };
  std::atomic<int64_t> big_done_at{0};
  HttpReply big;
  auto since = [t0 = std::chrono::steady_clock::now()] {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
  };
  std::thread sender([&] {
    big = roundTrip(port, post(body));
    big_done_at = since();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the big call is being embedded
  int64_t small_sent_at = since();
  HttpReply small = roundTrip(port, post(R"({"model":"embed","input":"hello"})"));
  int64_t small_done_at = since();
  sender.join();
  REQUIRE(small.status == 200);
  REQUIRE(big.status == 200);
  rapidjson::Document d = parseJson(big.body);
  REQUIRE(d.IsObject());
  CHECK(d["data"].Size() == 2000);
  CHECK(d["data"][1999]["index"].GetInt() == 1999);
  // Whole, the small call waited out most of the big one (810 of its 1,230 ms); in slices, one
  // slice at most (23 ms). Both scale with the machine's speed: the bound is their ratio.
  INFO("small sent at " << small_sent_at << " us, answered at " << small_done_at << " us; big answered at "
                        << big_done_at.load() << " us");
  CHECK(small_done_at < big_done_at.load());
  CHECK((small_done_at - small_sent_at) * 3 < big_done_at.load());
}
