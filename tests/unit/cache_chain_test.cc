// The cache stages through a real chain built from config, on a real loop: what is stored is
// found again, whatever model the answering target called.
#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <thread>

#include "chain/chain.h"
#include "chain/engine.h"
#include "config/config.h"
#include "outrigger_generated.h"
#include "support/frames.h"

using namespace outrigger;
using namespace outrigger::testing;

namespace {

class Sink : public ResponseSink {
 public:
  void onStart(uint64_t, const ResponseStartInfo&) override {}
  Flow onChunk(uint64_t sid, const ResponseChunkInfo& c) override {
    chunks[sid].emplace_back(c.delta);
    for (size_t i = 0; i < c.tool_call_count; ++i) {  // joined as a client joins deltas
      const ToolCallDelta& d = c.tool_calls[i];
      auto& call = streamed_calls[sid][d.index];
      call.id += d.id;
      call.name += d.name;
      call.arguments += d.arguments;
    }
    return Flow::kOk;
  }
  void onEnd(uint64_t sid, const ResponseEndInfo& e) override {
    hits[sid] = e.cache_hit;
    content[sid] = std::string(e.content);
    codes[sid] = e.code;
  }
  std::map<uint64_t, bool> hits;
  std::map<uint64_t, std::string> content;
  std::map<uint64_t, Code> codes;
  std::map<uint64_t, std::vector<std::string>> chunks;
  std::map<uint64_t, std::map<uint32_t, ToolCall>> streamed_calls;
};

struct CachedRoute {
  event::EventLoop loop{44};
  chain::Engine engine{loop, {60000, 600000, 1000000}, nullptr};
  std::shared_ptr<chain::ChainSnapshot> snapshot;
  Sink sink;

  explicit CachedRoute(const std::string& route) {
    auto settings = config::parseConfig(
        "[plugins]\ndirs = [\"" OUTRIGGER_PLUGIN_DIR "\"]\n[instances.mock]\ntype = \"provider.mock\"\n"
        "[instances.mock.config]\nmode = \"echo\"\nallow_request_overrides = true\n[instances.memory]\ntype = \"cache.memory\"\n"
        "[instances.brief]\ntype = \"cache.memory\"\n[instances.brief.config]\nttl_ms = 1\n" + route,
        "cache.toml", ".");
    REQUIRE(settings.ok());
    auto built = chain::buildChain(settings.value(), 1, 1);
    REQUIRE(built.ok());
    snapshot = built.value();
    engine.setChain(snapshot->workers[0]);
  }
  ~CachedRoute() { loop.runUntilForTest([] { return false; }, 5); }

  // Runs one request to its end.
  void call(uint64_t sid, const std::string& model, const std::string& text, bool stream = false,
            const std::string& extra_json = "") {
    std::string f = requestFrame(
        sid, {.model = model, .messages = {{"user", text}}, .tenant = "acme", .extra_json = extra_json, .stream = stream});
    auto buf = chain::FrameBuffer::copyOf(reinterpret_cast<const uint8_t*>(f.data()), f.size());
    const auto* req = wire::GetSizePrefixedFrame(buf.data())->body_as_Request();
    loop.runUntilForTest([&] {
      engine.start(std::move(buf), req, &sink, sid);
      return true;
    }, 10);
    REQUIRE(loop.runUntilForTest([&] { return sink.codes.count(sid) > 0; }, 2000));
  }
};

}  // namespace

TEST_CASE("an answer stored by a target that names its own model is found by the next equal request") {
  CachedRoute r("[routes.default]\ncache = \"memory\"\ntargets = [{ provider = \"mock\", model = \"target-model\" }]\n");
  r.call(1, "caller-model", "what is 2+2?");
  CHECK_FALSE(r.sink.hits[1]);
  r.call(2, "caller-model", "what is 2+2?");
  CHECK(r.sink.hits[2]);
  CHECK(r.sink.content[2] == r.sink.content[1]);
  r.call(3, "caller-model", "what is 3+3?");
  CHECK_FALSE(r.sink.hits[3]);
}

TEST_CASE("the cache key keeps the route's model when the route names one") {
  CachedRoute r("[routes.default]\ncache = \"memory\"\nmodel = \"route-model\"\n"
                "targets = [{ provider = \"mock\", model = \"a\" }, { provider = \"mock\", model = \"b\" }]\n");
  r.call(1, "x", "hello");
  r.call(2, "y", "hello");  // the route's model, not the caller's, is what the answer is for
  CHECK(r.sink.hits[2]);
}

TEST_CASE("several caches are looked up in order: a miss in the first is answered by the second") {
  // `brief` forgets within a millisecond; `memory` keeps the answer.
  CachedRoute both("[routes.default]\ncache = [\"brief\", \"memory\"]\nprovider = \"mock\"\n");
  both.call(1, "m", "hello");
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  both.call(2, "m", "hello");
  CHECK(both.sink.hits[2]);

  CachedRoute brief_only("[routes.default]\ncache = \"brief\"\nprovider = \"mock\"\n");
  brief_only.call(1, "m", "hello");
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  brief_only.call(2, "m", "hello");
  CHECK_FALSE(brief_only.sink.hits[2]);  // so the hit above came from the second cache
}

TEST_CASE("a cache hit on a streaming request is replayed in chunks of the route's size") {
  CachedRoute r("[routes.default]\ncache = \"memory\"\ncache_replay_chunk_bytes = 4\nprovider = \"mock\"\n");
  std::string text = "one two three é four";  // the é must not be cut in half
  r.call(1, "m", text, /*stream=*/true);
  r.call(2, "m", text, /*stream=*/true);
  REQUIRE(r.sink.hits[2]);
  const std::vector<std::string>& pieces = r.sink.chunks[2];
  CHECK(pieces.size() >= text.size() / 4);
  std::string joined;
  for (const std::string& p : pieces) {
    CHECK(p.size() <= 4);  // a piece ends before a code point that would not fit
    joined += p;
  }
  CHECK(joined == text);
}

TEST_CASE("a cache hit on a streaming request streams the answer's tool calls, as the miss did") {
  CachedRoute r("[routes.default]\ncache = \"memory\"\nprovider = \"mock\"\n");
  std::string calls = R"({"mock": {"tool_calls": [{"id": "call_1", "name": "weather", "arguments": "{\"city\":\"Paris\"}"}]}})";
  r.call(1, "m", "weather in Paris?", /*stream=*/true, calls);
  r.call(2, "m", "weather in Paris?", /*stream=*/true, calls);
  REQUIRE_FALSE(r.sink.hits[1]);
  REQUIRE(r.sink.hits[2]);
  for (uint64_t sid : {1, 2}) {
    INFO("stream " << sid);
    REQUIRE(r.sink.streamed_calls[sid].size() == 1);
    const ToolCall& c = r.sink.streamed_calls[sid][0];
    CHECK(c.id == "call_1");
    CHECK(c.name == "weather");
    CHECK(c.arguments == R"({"city":"Paris"})");
  }
}
