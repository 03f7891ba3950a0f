// Requests given to the engine in process (chain::CallInput): no wire frame and no FlatBuffers,
// through a real chain built from config on a real loop, with the same stages, deadline and
// single end as a socket request.
#include <catch2/catch.hpp>

#include <map>

#include "chain/chain.h"
#include "chain/engine.h"
#include "config/config.h"

using namespace outrigger;

namespace {

struct Outcome {
  Code code = Code::kUnknown;
  std::string content, message;
  std::vector<std::string> chunks;
  size_t verdicts = 0;
  int ends = 0;
};

class Sink : public ResponseSink {
 public:
  void onStart(uint64_t, const ResponseStartInfo&) override {}
  Flow onChunk(uint64_t sid, const ResponseChunkInfo& c) override {
    calls[sid].chunks.emplace_back(c.delta);
    return Flow::kOk;
  }
  void onEnd(uint64_t sid, const ResponseEndInfo& e) override {
    Outcome& o = calls[sid];
    o.code = e.code;
    o.content = std::string(e.content);
    o.message = std::string(e.message);
    o.verdicts = e.verdicts ? e.verdicts->size() : 0;
    ++o.ends;
  }
  std::map<uint64_t, Outcome> calls;
};

struct InProcess {
  event::EventLoop loop{45};
  chain::Engine engine{loop, {60000, 600000, 1000000}, nullptr};
  std::shared_ptr<chain::ChainSnapshot> snapshot;
  Sink sink;

  InProcess() {
    auto settings = config::parseConfig(
        "[plugins]\ndirs = [\"" OUTRIGGER_PLUGIN_DIR "\"]\n[instances.mock]\ntype = \"provider.mock\"\n"
        "[instances.mock.config]\nmode = \"echo\"\nallow_request_overrides = true\n"
        "[instances.rules]\ntype = \"guardrail.rules\"\n[instances.rules.config]\n"
        "deny_patterns = ['(?i)forbidden phrase']\n"
        "[routes.default]\nguardrails = [\"rules\"]\nprovider = \"mock\"\n",
        "in_process.toml", ".");
    REQUIRE(settings.ok());
    auto built = chain::buildChain(settings.value(), 1, 1);
    REQUIRE(built.ok());
    snapshot = built.value();
    engine.setChain(snapshot->workers[0]);
  }
  ~InProcess() { loop.runUntilForTest([] { return false; }, 5); }

  const Outcome& run(uint64_t id, std::unique_ptr<chain::CallInput> input) {
    loop.runUntilForTest([&] {
      engine.start(std::move(input), &sink, id);
      return true;
    }, 10);
    REQUIRE(loop.runUntilForTest([&] { return sink.calls[id].ends > 0; }, 3000));
    return sink.calls[id];
  }
};

std::unique_ptr<chain::CallInput> ask(const std::string& text, const std::string& mock = "") {
  auto in = std::make_unique<chain::CallInput>();
  in->model = "default";
  in->messages.push_back({"user", text, "", "", {}});
  if (!mock.empty()) in->extra_json = R"({"mock": )" + mock + "}";
  return in;
}

}  // namespace

TEST_CASE("a request given in process is answered through the route's stages, unary and streamed") {
  InProcess p;
  const Outcome& unary = p.run(1, ask("hello from a dataset"));
  CHECK(unary.code == Code::kOk);
  CHECK(unary.content == "hello from a dataset");
  CHECK(unary.verdicts == 1);  // the guardrail ran
  CHECK(unary.ends == 1);

  auto streamed = ask("one two three four", R"({"chunks": 2})");
  streamed->stream = true;
  const Outcome& s = p.run(2, std::move(streamed));
  CHECK(s.code == Code::kOk);
  REQUIRE(s.chunks.size() == 2);
  CHECK(s.chunks[0] + s.chunks[1] == "one two three four");
}

TEST_CASE("an in-process request carries its metadata to the plugins, and is denied and timed out like any other") {
  InProcess p;
  auto in = ask("who am I?", R"({"echo_metadata": true})");
  in->tenant = "acme";
  in->user = "u-7";
  in->tags = {{"dataset", "golden"}};
  const Outcome& seen = p.run(1, std::move(in));
  REQUIRE(seen.code == Code::kOk);
  CHECK(seen.content.find("\"tenant\":\"acme\"") != std::string::npos);
  CHECK(seen.content.find("\"user\":\"u-7\"") != std::string::npos);
  CHECK(seen.content.find("\"dataset\":\"golden\"") != std::string::npos);

  const Outcome& denied = p.run(2, ask("this has a forbidden phrase in it"));
  CHECK(denied.code == Code::kPermissionDenied);

  auto slow = ask("never answered", R"({"hang": true})");
  slow->timeout_ms = 50;
  const Outcome& late = p.run(3, std::move(slow));
  CHECK(late.code == Code::kDeadlineExceeded);
  CHECK(late.ends == 1);
}
