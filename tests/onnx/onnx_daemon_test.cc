// provider.onnx in the real daemon, as a process: all-MiniLM-L6-v2 embeds on its own threads for
// the HTTP front's /v1/embeddings and for cache.semantic through the host, and the answers come
// back to the request's loop. A full queue refuses at once, counted.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <future>
#include <iterator>
#include <memory>
#include <regex>
#include <string>
#include <tuple>
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

const std::string kModelDir = OUTRIGGER_MINILM_MODEL;

std::string onnxInstance(const std::string& extra = "") {
  return "[instances.minilm]\ntype = \"provider.onnx\"\n[instances.minilm.config]\n"
         "runtime = \"" + kModelDir + "/libonnxruntime.so.1.20.1\"\n"
         "model = \"" + kModelDir + "/all-minilm-l6-v2-q.onnx\"\n"
         "tokenizer = \"" + kModelDir + "/all-minilm-l6-v2-q-tokenizer.json\"\n" + extra;
}

struct Rig {
  UpstreamProcess upstream;
  std::unique_ptr<DaemonProcess> daemon;

  explicit Rig(const std::string& onnx_extra = "", int cache_dimensions = 384) {
    REQUIRE(upstream.ready());
    ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test", 1);
    daemon = std::make_unique<DaemonProcess>(
        daemonHead() + openaiInstance("openai", upstream.baseUrl()) + onnxInstance(onnx_extra) +
        "[instances.semantic]\ntype = \"cache.semantic\"\n[instances.semantic.config]\n"
        "embed_route = \"embed\"\nthreshold = 0.97\ndimensions = " + std::to_string(cache_dimensions) + "\n"
        "[routes.default]\ncache = [\"semantic\"]\nprovider = \"openai\"\nmodel = \"gpt-test\"\ncalls = [\"embed\"]\n"
        "[routes.embed]\nprovider = \"minilm\"\n[admin]\nlisten = \"127.0.0.1:0\"\n[http]\nlisten = \"127.0.0.1:0\"\n");
    if (!daemon->waitReady()) FAIL("the daemon did not start:\n" << daemon->log());
  }
  size_t upstreamCalls() {
    rapidjson::Document l = parseJson(upstream.log());
    return l.IsArray() ? l.Size() : 0;
  }
};

SocketAnswer ask(const Rig& rig, const std::string& text) {
  RequestSpec spec;
  spec.tenant = "t";
  spec.messages = {{"user", text}};
  return socketExchange(*rig.daemon, spec, "");
}

// Waits up to a minute: the long inputs below take a busy machine many seconds on one thread.
HttpReply embeddings(const Rig& rig, const std::string& input_json) {
  return roundTrip(httpPort(*rig.daemon), post(R"({"model":"embed","encoding_format":"float","input":)" + input_json + "}",
                                               "/v1/embeddings"),
                   std::chrono::seconds(60));
}

}  // namespace

TEST_CASE("/v1/embeddings answers the model's vectors, equal to onnxruntime's") {
  Rig rig;
  std::ifstream in(std::string(ONNX_DATA) + "/golden_vectors.jsonl");
  std::string line;
  REQUIRE(std::getline(in, line));
  rapidjson::Document golden = parseJson(line);
  std::string text(golden["text"].GetString(), golden["text"].GetStringLength());
  HttpReply r = embeddings(rig, "[" + jsonQuoted(text) + ", \"a second input\"]");
  REQUIRE(r.status == 200);
  rapidjson::Document d = parseJson(r.body);
  REQUIRE(d["data"].Size() == 2);
  const auto& v = d["data"][0]["embedding"];
  REQUIRE(v.Size() == 384);
  double worst = 0;
  for (rapidjson::SizeType i = 0; i < v.Size(); ++i) worst = std::max(worst, std::abs(v[i].GetDouble() - golden["vector"][i].GetDouble()));
  CHECK(worst < 1e-4);
  CHECK(std::string(d["model"].GetString()) == "all-minilm-l6-v2");
  CHECK(d["usage"]["prompt_tokens"].GetInt() > 4);
  CHECK(embeddings(rig, R"(["x"], "dimensions": 256)").status == 400);  // not the model's own width
}

TEST_CASE("cache.semantic embedding through provider.onnx serves a paraphrase and tells word order apart") {
  Rig rig;
  REQUIRE(rig.upstream.script(R"([{"text":"Use the reset link."},{"text":"Science cannot."},{"text":"God cannot."}])"));
  CHECK(ask(rig, "How do I reset my password?").content == "Use the reset link.");
  CHECK(ask(rig, "How can I reset my password?").content == "Use the reset link.");
  CHECK(rig.upstreamCalls() == 1);
  // The same words in another order: a bag-of-words model scores these 1.0, this one 0.96.
  CHECK(ask(rig, "Is God capable of disproving science?").content == "Science cannot.");
  CHECK(ask(rig, "Is science capable of disproving God?").content == "God cannot.");
  CHECK(rig.upstreamCalls() == 3);
  std::string metrics = adminMetricsText(*rig.daemon);
  CHECK(metrics.find(R"(outrigger_semantic_cache_hits_total{plugin_instance="semantic"} 1)") != std::string::npos);
  CHECK(metrics.find(R"(outrigger_onnx_embed_texts_total{plugin_instance="minilm"} 4)") != std::string::npos);
}

TEST_CASE("a semantic cache told the wrong width says so once in the log, and every lookup misses") {
  Rig rig("", 256);
  REQUIRE(rig.upstream.script(R"([{"text":"one"},{"text":"two"},{"text":"three"}])"));
  for (int i = 0; i < 3; ++i) CHECK(ask(rig, "How do I reset my password?").status == OUTRIGGER_CODE_OK);
  CHECK(rig.upstreamCalls() == 3);
  std::string log = rig.daemon->log();
  const std::string warning = "the embed route answers vectors of 384 dimensions, but `dimensions` is 256";
  size_t first = log.find(warning);
  CHECK(first != std::string::npos);
  CHECK(log.find(warning, first + 1) == std::string::npos);
  CHECK(adminMetricsText(*rig.daemon).find(R"(outrigger_semantic_cache_embed_failures_total{plugin_instance="semantic"} 3)") !=
        std::string::npos);
}

TEST_CASE("a full queue refuses an embedding at once with RESOURCE_EXHAUSTED, and counts it") {
  Rig rig("threads = 1\nqueue_capacity = 1\n");
  std::string long_text;
  for (int i = 0; long_text.size() < 60000; ++i) long_text += "word" + std::to_string(i) + " ";
  // The long text keeps the one thread busy (hundreds of windows); of the two short ones sent
  // behind it, at most one finds room in the queue.
  auto slow = std::async(std::launch::async, [&] { return embeddings(rig, jsonQuoted(long_text)); });
  // Time for the long one to reach the thread on a busy machine; its windows take seconds.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto first = std::async(std::launch::async, [&] { return embeddings(rig, R"("one")"); });
  auto second = std::async(std::launch::async, [&] { return embeddings(rig, R"("two")"); });
  HttpReply a = first.get(), b = second.get(), s = slow.get();
  CHECK(s.status == 200);
  CHECK((a.status == 429 || b.status == 429));
  for (int status : {a.status, b.status}) CHECK((status == 200 || status == 429));
  int refused = (a.status == 429) + (b.status == 429);
  std::string metrics = adminMetricsText(*rig.daemon);
  std::smatch counted;
  REQUIRE(std::regex_search(metrics, counted, std::regex(R"(outrigger_onnx_embed_queue_full_total\{plugin_instance="minilm"\} (\d+))")));
  CHECK(std::stoi(counted[1]) == refused);
  CHECK(embeddings(rig, R"("after the burst")").status == 200);
}

// A job ran all its inputs before the next job began: one call of many long inputs held the
// model thread for up to its deadline, and every semantic cache lookup behind it missed.
namespace {

// A long call started, then a short one once `running` says the long one is under way: when each
// was answered, and how.
struct Race {
  int long_status = 0, short_status = 0;
  std::chrono::steady_clock::time_point long_done, short_done;
};
Race shortBehindLong(const Rig& rig, const std::string& long_input_json, const std::function<void()>& running) {
  using Clock = std::chrono::steady_clock;
  auto big = std::async(std::launch::async, [&] {
    HttpReply r = embeddings(rig, long_input_json);
    return std::make_pair(r.status, Clock::now());
  });
  running();
  Race race;
  race.short_status = embeddings(rig, R"("one")").status;
  race.short_done = Clock::now();
  std::tie(race.long_status, race.long_done) = big.get();
  return race;
}

}  // namespace

TEST_CASE("a short embedding is not held behind every input of a long call: jobs take turns by input") {
  Rig rig("threads = 1\n");
  std::string long_text;
  for (int i = 0; long_text.size() < 12000; ++i) long_text += "word" + std::to_string(i) + " ";
  std::string inputs = "[";
  for (int i = 0; i < 8; ++i) inputs += (i ? "," : "") + jsonQuoted(long_text + std::to_string(i));
  inputs += "]";
  Race race = shortBehindLong(rig, inputs, [&] {
    // Once the long call's first input is done, it is surely running.
    using Clock = std::chrono::steady_clock;
    std::regex texts(R"(outrigger_onnx_embed_texts_total\{plugin_instance="minilm"\} (\d+))");
    for (auto until = Clock::now() + std::chrono::seconds(30); Clock::now() < until;) {
      std::smatch m;
      std::string metrics = adminMetricsText(*rig.daemon);
      if (std::regex_search(metrics, m, texts) && std::stoi(m[1]) >= 1) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  CHECK(race.short_status == 200);
  CHECK(race.long_status == 200);
  CHECK(race.short_done < race.long_done);
}

TEST_CASE("a short embedding waits for one window of a long input, not for the whole input") {
  Rig rig("threads = 1\n");
  const std::string long_input = jsonQuoted(std::string(16384, '['));  // a token a byte: ~130 windows
  Race race = shortBehindLong(rig, long_input, [] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // its first windows are running
  });
  CHECK(race.short_status == 200);
  CHECK(race.long_status == 200);
  CHECK(race.short_done < race.long_done);
}

TEST_CASE("a deadline ends a long embedding with 504, and the model thread is free again") {
  Rig rig("threads = 1\n");
  std::string long_text;
  for (int i = 0; long_text.size() < 60000; ++i) long_text += "word" + std::to_string(i) + " ";
  std::string body = R"({"model":"embed","input":)" + jsonQuoted(long_text) + "}";
  HttpReply late = roundTrip(httpPort(*rig.daemon), "POST /v1/embeddings HTTP/1.1\r\nHost: localhost\r\n"
                                                    "Content-Type: application/json\r\nx-outrigger-timeout-ms: 30\r\n"
                                                    "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  CHECK(late.status == 504);
  CHECK(embeddings(rig, R"("after the deadline")").status == 200);
  CHECK(rig.daemon->alive());
}

TEST_CASE("the example config/semantic_cache_minilm.toml serves a paraphrase from the semantic cache") {
  std::ifstream in(std::string(OUTRIGGER_SOURCE_DIR) + "/config/semantic_cache_minilm.toml");
  std::string example((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Its model paths are relative to where the daemon starts; the test's daemon starts elsewhere.
  const std::string relative = "\"build/tools/minilm-l6-v2-q";
  for (size_t at = 0; (at = example.find(relative, at)) != std::string::npos; at += kModelDir.size()) {
    example.replace(at + 1, relative.size() - 1, kModelDir);
  }
  // First: its top-level keys (default_route) must come before any table.
  DaemonProcess d(example + "\n" + daemonHead() + "[admin]\nlisten = \"127.0.0.1:0\"\n");
  REQUIRE(d.waitReady());
  RequestSpec spec;
  spec.messages = {{"user", "How do I reset my password?"}};
  CHECK(socketExchange(d, spec, "").status == OUTRIGGER_CODE_OK);
  spec.messages = {{"user", "How can I reset my password?"}};
  CHECK(socketExchange(d, spec, "").content == "How do I reset my password?");  // the echo of the first
  CHECK(adminMetricsText(d).find(R"(outrigger_semantic_cache_hits_total{plugin_instance="semantic"} 1)") != std::string::npos);
}

TEST_CASE("a configuration naming a missing runtime is refused at startup with the reason") {
  DaemonProcess d(daemonHead() + "[instances.minilm]\ntype = \"provider.onnx\"\n[instances.minilm.config]\n"
                  "runtime = \"/nonexistent/libonnxruntime.so\"\nmodel = \"m.onnx\"\ntokenizer = \"" + kModelDir +
                  "/all-minilm-l6-v2-q-tokenizer.json\"\n[routes.default]\nprovider = \"minilm\"\n");
  CHECK_FALSE(d.waitReady());
  CHECK(d.log().find("cannot load ONNX Runtime") != std::string::npos);
}
