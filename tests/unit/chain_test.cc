// Chain contracts: completions, stale handles, threads, deadlines and cancellation, driven on a
// real event loop with probe plugins whose behaviour each test sets.
#include <catch2/catch.hpp>

#include <thread>

#include <outrigger/plugin.hpp>

#include "chain/engine.h"
#include "chain/host_api.h"
#include "chain/request_context.h"
#include "outrigger_generated.h"
#include "plugin/schema.h"
#include "support/in_test_plugins.h"
#include "support/frames.h"

using namespace outrigger;
using namespace outrigger::testing;

namespace {

// What the probe plugins do and saw; reset by each test.
struct ProbeState {
  std::string provider_mode = "echo";  // echo | hang | async | chunks | timer
  std::string guard_mode = "pass";     // pass | deny | flag | pending | throw
  int provider_starts = 0;
  int provider_cancels = 0;
  int provider_resumes = 0;
  int guard_cancels = 0;
  std::vector<outrigger_status> chunk_results;
  outrigger_request last_handle{};
  const outrigger_host_api* provider_host = nullptr;
  const outrigger_host_api* guard_host = nullptr;
  int timer_ok = 0, timer_stale = 0;
  std::string embed_mode = "echo";  // echo | hang | unsupported | short | chat_done
  int embed_calls = 0;
  int guard_requests = 0;
  uint32_t embed_dimensions = 0;
  outrigger_code deny_code = 0;  // guard_mode "deny": the action's deny_code (0: no action)
};
ProbeState g;

class ProbeProvider final : public plugin::Provider {
 public:
  static constexpr const char* kName = "probe";
  static constexpr const char* kDescription = "test provider";
  static constexpr const char* kConfigSchema = "{}";
  ProbeProvider(plugin::Host h, std::string_view n, std::string_view) : Provider(h, n) { g.provider_host = h.api(); }

  outrigger_status start(const outrigger_request_view& r) override {
    ++g.provider_starts;
    g.last_handle = r.handle;
    if (g.provider_mode == "echo") {
      outrigger_response_view resp = plugin::makeResponse();
      resp.content = r.messages[r.message_count - 1].content;
      host().providerDone(r.handle, resp);
    } else if (g.provider_mode == "chunks") {
      for (const char* piece : {"a", "b", "c"}) g.chunk_results.push_back(host().providerChunk(r.handle, plugin::makeChunk(piece)));
    } else if (g.provider_mode == "timer") {
      host().setTimer(r.handle, 60000, [](outrigger_status s) { (s == OUTRIGGER_OK ? g.timer_ok : g.timer_stale)++; });
    }
    return OUTRIGGER_PENDING;  // hang and async: the test completes it, or nothing does
  }
  void cancel(outrigger_request) override { ++g.provider_cancels; }
  void resume(outrigger_request) override { ++g.provider_resumes; }
  // echo: one vector per input, {length, index}; short: one vector too few.
  outrigger_status embed(const outrigger_embed_request_view& r) override {
    ++g.embed_calls;
    g.last_handle = r.handle;
    g.embed_dimensions = r.dimensions;
    if (g.embed_mode == "unsupported") return OUTRIGGER_E_UNSUPPORTED;
    if (g.embed_mode == "hang") return OUTRIGGER_PENDING;
    if (g.embed_mode == "chat_done") {
      g.chunk_results.push_back(host().providerChunk(r.handle, plugin::makeChunk("x")));
      g.chunk_results.push_back(host().providerDone(r.handle, plugin::makeResponse()));
      return OUTRIGGER_PENDING;
    }
    std::vector<std::vector<float>> vecs;
    size_t n = g.embed_mode == "short" ? r.input_count - 1 : r.input_count;
    // [input length, index], padded with zeros to the asked dimensions.
    for (size_t i = 0; i < n; ++i) {
      vecs.push_back({float(r.inputs[i].size), float(i)});
      if (r.dimensions > 2 && g.embed_mode != "ignore_dimensions") vecs.back().resize(r.dimensions, 0.0f);
      if (g.embed_mode == "ragged" && i == 1) vecs.back().push_back(1.0f);
    }
    std::vector<outrigger_embedding_view> views;
    for (const auto& v : vecs) views.push_back({v.data(), v.size()});
    outrigger_embeddings_view e{};
    e.hdr = OUTRIGGER_HEADER_INIT(outrigger_embeddings_view);
    e.embeddings = views.data();
    e.embedding_count = views.size();
    e.usage.prompt_tokens = 7;
    e.model = plugin::str("probe-embed");
    host().embeddingsDone(r.handle, e);
    return OUTRIGGER_PENDING;
  }
};

class ProbeGuard final : public plugin::Guardrail {
 public:
  static constexpr const char* kName = "probe";
  static constexpr const char* kDescription = "test guardrail";
  static constexpr const char* kConfigSchema = "{}";
  ProbeGuard(plugin::Host h, std::string_view n, std::string_view) : Guardrail(h, n) { g.guard_host = h.api(); }

  outrigger_status onRequest(const outrigger_request_view& r, outrigger_guardrail_result& res) override {
    g.last_handle = r.handle;
    ++g.guard_requests;
    if (g.guard_mode == "deny") {
      res.verdict = OUTRIGGER_VERDICT_DENY;
      res.reason = plugin::str("no thanks");
      if (g.deny_code) {
        action_ = {};
        action_.hdr = OUTRIGGER_HEADER_INIT(outrigger_guardrail_action);
        action_.deny_code = g.deny_code;
        res.action = &action_;
      }
      return OUTRIGGER_STOP;
    }
    if (g.guard_mode == "flag") {
      res.verdict = OUTRIGGER_VERDICT_FLAG;
      res.reason = plugin::str("looks odd");
    }
    if (g.guard_mode == "pending") return OUTRIGGER_PENDING;
    if (g.guard_mode == "done_then_continue" || g.guard_mode == "deny_done_then_continue") {
      // Decides through the host inside its own call, then returns CONTINUE: a plugin's mistake.
      bool deny = g.guard_mode == "deny_done_then_continue";
      std::string_view why = deny ? "denied inside" : "passed inside";
      host().guardrailDone(r.handle, deny ? OUTRIGGER_VERDICT_DENY : OUTRIGGER_VERDICT_PASS, why);
      res.verdict = OUTRIGGER_VERDICT_FLAG;
      res.reason = plugin::str("the return's own verdict");
      return OUTRIGGER_CONTINUE;
    }
    // A plugin's mistakes the host must not take for a decision to go on.
    if (g.guard_mode == "null_reason") {
      res.verdict = OUTRIGGER_VERDICT_DENY;
      res.reason = {nullptr, 40};
      return OUTRIGGER_STOP;
    }
    if (g.guard_mode == "null_reason_done") {
      host().api()->guardrail_done(host().api()->host_ctx, r.handle, OUTRIGGER_VERDICT_DENY, {nullptr, 40});
      return OUTRIGGER_PENDING;
    }
    if (g.guard_mode == "return_42") return static_cast<outrigger_status>(42);
    if (g.guard_mode == "return_hold") return OUTRIGGER_HOLD;
    if (g.guard_mode == "verdict_77") {
      res.verdict = static_cast<outrigger_verdict>(77);
      return OUTRIGGER_CONTINUE;
    }
    if (g.guard_mode == "throw") throw std::runtime_error("guard exploded");
    if (g.guard_mode == "slow") std::this_thread::sleep_for(std::chrono::milliseconds(3));
    return OUTRIGGER_CONTINUE;
  }
  outrigger_status onChunk(const outrigger_request_view& r, const outrigger_chunk_view& c,
                           outrigger_guardrail_result& res) override {
    if (plugin::view(c.delta) != "b") return OUTRIGGER_CONTINUE;
    if (g.guard_mode == "deny_inside_chunk_b") {  // decides inside the hook, then returns CONTINUE
      host().guardrailDecided(r.handle, OUTRIGGER_STOP, OUTRIGGER_VERDICT_DENY, "denied inside", nullptr);
      return OUTRIGGER_CONTINUE;
    }
    if (g.guard_mode == "release_b_without_hdr") {  // a redaction whose action header was never set
      action_ = {};
      action_.content = plugin::str("[censored]");
      action_.replace_content = 1;
      res.verdict = OUTRIGGER_VERDICT_REWRITE;
      res.action = &action_;
      return OUTRIGGER_RELEASE;
    }
    if (g.guard_mode == "verdict_77_chunk_b") {
      res.verdict = static_cast<outrigger_verdict>(77);
      return OUTRIGGER_CONTINUE;
    }
    if (g.guard_mode == "pending_chunk_b") return OUTRIGGER_PENDING;
    if (g.guard_mode != "deny_chunk_b") return OUTRIGGER_CONTINUE;
    res.verdict = OUTRIGGER_VERDICT_DENY;
    res.reason = plugin::str("chunk b is not allowed");
    return OUTRIGGER_STOP;
  }
  void onCancel(outrigger_request) override { ++g.guard_cancels; }

 private:
  outrigger_guardrail_action action_{};
};

struct End {
  Code code;
  std::string origin, message, content;
  std::vector<Verdict> verdicts;
  std::vector<std::vector<float>> embeddings;
  std::string model;
};

class TestSink : public ResponseSink {
 public:
  void onStart(uint64_t, const ResponseStartInfo&) override { ++starts; }
  Flow onChunk(uint64_t, const ResponseChunkInfo& c) override {
    chunks.emplace_back(c.delta);
    return pause ? Flow::kPause : Flow::kOk;
  }
  void onEnd(uint64_t, const ResponseEndInfo& e) override {
    ends.push_back({e.code, std::string(e.origin), std::string(e.message), std::string(e.content),
                    e.verdicts ? *e.verdicts : std::vector<Verdict>{},
                    e.embeddings ? *e.embeddings : std::vector<std::vector<float>>{}, std::string(e.model)});
  }
  int starts = 0;
  bool pause = false;
  std::vector<std::string> chunks;
  std::vector<End> ends;
};

// One worker's engine on a loop the test drives, with a route: [probe guard] -> probe provider.
struct Harness {
  event::EventLoop loop{42};
  chain::Engine engine{loop, {60000, 600000, 1000}, nullptr};
  plugin::PluginType provider_type = typeFor(plugin::typeOf<ProbeProvider>());
  plugin::PluginType guard_type = typeFor(plugin::typeOf<ProbeGuard>());
  TestSink sink;

  explicit Harness(config::OnError guard_on_error = config::OnError::kDeny, bool with_guard = true) {
    g = ProbeState{};
    config::InstanceSettings ps{"probe", "provider", "probe", "{}", config::OnError::kDeny, "t:1", {}};
    config::InstanceSettings gs{"guard", "guardrail", "probe", "{}", guard_on_error, "t:2", {}};
    auto chain = std::make_shared<chain::WorkerChain>();
    chain::Route r;
    r.name = "default";
    r.provider = {plugin::PluginInstance::create(provider_type, ps, chain::hostApiTemplate()).value(), "provider/probe"};
    if (with_guard) {
      r.guardrails.push_back({plugin::PluginInstance::create(guard_type, gs, chain::hostApiTemplate()).value(), "guardrail/guard"});
    }
    chain::layOutSteps(&chain->routes.emplace("default", std::move(r)).first->second);
    chain->default_route = "default";
    engine.setChain(chain);
  }
  ~Harness() { loop.runUntilForTest([] { return false; }, 5); }  // let closed handles free

  outrigger_request start(const RequestSpec& spec, uint64_t sid = 1) {
    std::string f = requestFrame(sid, spec);
    auto buf = chain::FrameBuffer::copyOf(reinterpret_cast<const uint8_t*>(f.data()), f.size());
    const auto* req = wire::GetSizePrefixedFrame(buf.data())->body_as_Request();
    outrigger_request h{};
    loop.runUntilForTest([&] {
      h = engine.start(std::move(buf), req, &sink, sid);
      return true;
    }, 10);
    return h;
  }
  outrigger_request startEmbed(std::vector<std::string> inputs, uint32_t timeout_ms = 0, uint32_t dimensions = 0) {
    RequestSpec spec;
    spec.messages.clear();
    spec.timeout_ms = timeout_ms;
    std::string f = requestFrame(1, spec);
    auto buf = chain::FrameBuffer::copyOf(reinterpret_cast<const uint8_t*>(f.data()), f.size());
    const auto* req = wire::GetSizePrefixedFrame(buf.data())->body_as_Request();
    auto embed = std::make_unique<chain::EmbedInput>();
    embed->inputs = std::move(inputs);
    embed->dimensions = dimensions;
    outrigger_request h{};
    loop.runUntilForTest([&] {
      h = engine.start(std::move(buf), req, &sink, 1, std::move(embed));
      return true;
    }, 10);
    return h;
  }
  bool runUntilEnded(uint64_t ms = 2000) {
    return loop.runUntilForTest([&] { return !sink.ends.empty(); }, ms);
  }
  // Runs `fn` as if on the loop thread (host calls check the thread).
  template <class F>
  auto onLoop(F&& fn) {
    decltype(fn()) out{};
    loop.runUntilForTest([&] {
      out = fn();
      return true;
    }, 10);
    return out;
  }
};

}  // namespace

TEST_CASE("a synchronous provider answer ends the request once with its content") {
  Harness h;
  h.start({.messages = {{"user", "hi there"}}});
  REQUIRE(h.runUntilEnded());
  REQUIRE(h.sink.ends.size() == 1);
  CHECK(h.sink.ends[0].code == Code::kOk);
  CHECK(h.sink.ends[0].content == "hi there");
  REQUIRE(h.sink.ends[0].verdicts.size() == 1);
  CHECK(h.sink.ends[0].verdicts[0].kind == VerdictKind::kPass);
  CHECK(h.engine.inFlight() == 0);
}

TEST_CASE("a guardrail that decides inside its hook and then returns CONTINUE is decided once, by its completion") {
  {
    Harness h;
    g.guard_mode = "done_then_continue";
    h.start({.messages = {{"user", "hi there"}}});
    REQUIRE(h.runUntilEnded());
    h.loop.runUntilForTest([] { return false; }, 20);
    REQUIRE(h.sink.ends.size() == 1);
    CHECK(h.sink.ends[0].code == Code::kOk);
    CHECK(h.sink.ends[0].content == "hi there");
    REQUIRE(h.sink.ends[0].verdicts.size() == 1);
    CHECK(h.sink.ends[0].verdicts[0].kind == VerdictKind::kPass);
    CHECK(g.provider_starts == 1);
  }
  {
    Harness h;
    g.guard_mode = "deny_done_then_continue";
    h.start({.messages = {{"user", "hi there"}}});
    REQUIRE(h.runUntilEnded());
    h.loop.runUntilForTest([] { return false; }, 20);
    REQUIRE(h.sink.ends.size() == 1);
    CHECK(h.sink.ends[0].code == Code::kPermissionDenied);
    REQUIRE(h.sink.ends[0].verdicts.size() == 1);
    CHECK(h.sink.ends[0].verdicts[0].kind == VerdictKind::kDeny);
    CHECK(g.provider_starts == 0);
  }
}

TEST_CASE("a provider completion after the end is stale, a second guardrail completion is invalid") {
  Harness h;
  g.provider_mode = "async";
  g.guard_mode = "pending";
  outrigger_request handle = h.start({});
  const outrigger_host_api* gh = g.guard_host;
  CHECK(h.onLoop([&] { return gh->guardrail_done(gh->host_ctx, handle, OUTRIGGER_VERDICT_PASS, {nullptr, 0}); }) == OUTRIGGER_OK);
  CHECK(h.onLoop([&] { return gh->guardrail_done(gh->host_ctx, handle, OUTRIGGER_VERDICT_PASS, {nullptr, 0}); }) == OUTRIGGER_E_INVALID);
  CHECK(g.provider_starts == 1);
  const outrigger_host_api* ph = g.provider_host;
  outrigger_response_view ok = plugin::makeResponse();
  CHECK(h.onLoop([&] { return ph->provider_done(ph->host_ctx, handle, &ok); }) == OUTRIGGER_OK);
  REQUIRE(h.sink.ends.size() == 1);
  CHECK(h.onLoop([&] { return ph->provider_done(ph->host_ctx, handle, &ok); }) == OUTRIGGER_E_STALE);
  outrigger_chunk_view c = plugin::makeChunk("late");
  CHECK(h.onLoop([&] { return ph->provider_chunk(ph->host_ctx, handle, &c); }) == OUTRIGGER_E_STALE);
  CHECK(h.sink.ends.size() == 1);
}

TEST_CASE("a chunk naming a tool call index past the bound is refused, and the stream goes on") {
  Harness h;
  g.provider_mode = "async";
  RequestSpec spec;
  spec.stream = true;
  outrigger_request handle = h.start(spec);
  const outrigger_host_api* ph = g.provider_host;
  outrigger_tool_call_delta_view far{};
  far.index = 4000000000u;  // would size the answer's call list to four billion entries
  outrigger_chunk_view c = plugin::makeChunk("");
  c.tool_calls = &far;
  c.tool_call_count = 1;
  CHECK(h.onLoop([&] { return ph->provider_chunk(ph->host_ctx, handle, &c); }) == OUTRIGGER_E_INVALID);
  outrigger_tool_call_delta_view near{};
  near.index = 0;
  near.name = {"lookup", 6};
  c.tool_calls = &near;
  CHECK(h.onLoop([&] { return ph->provider_chunk(ph->host_ctx, handle, &c); }) == OUTRIGGER_OK);
  outrigger_response_view ok = plugin::makeResponse();
  CHECK(h.onLoop([&] { return ph->provider_done(ph->host_ctx, handle, &ok); }) == OUTRIGGER_OK);
  REQUIRE(h.runUntilEnded());
  REQUIRE(h.sink.ends.size() == 1);
  CHECK(h.sink.ends[0].code == Code::kOk);
}

TEST_CASE("a deny ends with the code the guardrail's action names, when it is one a guardrail may choose") {
  auto codeFor = [](outrigger_code deny_code) {
    Harness h;
    g.guard_mode = "deny";
    g.deny_code = deny_code;
    h.start({});
    REQUIRE(h.runUntilEnded());
    REQUIRE(h.sink.ends.size() == 1);
    CHECK(g.provider_starts == 0);
    return h.sink.ends[0].code;
  };
  CHECK(codeFor(0) == Code::kPermissionDenied);
  CHECK(codeFor(OUTRIGGER_CODE_INVALID_ARGUMENT) == Code::kInvalidArgument);
  CHECK(codeFor(OUTRIGGER_CODE_RESOURCE_EXHAUSTED) == Code::kResourceExhausted);
  CHECK(codeFor(OUTRIGGER_CODE_FAILED_PRECONDITION) == Code::kFailedPrecondition);
  // Codes that would tell a client to retry, or claim success, are not a guardrail's to choose.
  CHECK(codeFor(OUTRIGGER_CODE_UNAVAILABLE) == Code::kPermissionDenied);
  CHECK(codeFor(OUTRIGGER_CODE_OK) == Code::kPermissionDenied);
}

TEST_CASE("a completion from another thread is refused with WRONG_THREAD") {
  Harness h;
  g.provider_mode = "async";
  outrigger_request handle = h.start({});
  const outrigger_host_api* ph = g.provider_host;
  outrigger_response_view ok = plugin::makeResponse();
  outrigger_status from_thread = 0;
  std::thread([&] { from_thread = ph->provider_done(ph->host_ctx, handle, &ok); }).join();
  CHECK(from_thread == OUTRIGGER_E_WRONG_THREAD);
  CHECK(h.sink.ends.empty());
}

TEST_CASE("post from a foreign thread runs on the loop, or reports STALE after the end") {
  Harness h;
  g.provider_mode = "async";
  outrigger_request handle = h.start({});
  const outrigger_host_api* ph = g.provider_host;
  static int ok_calls, stale_calls;
  ok_calls = stale_calls = 0;
  auto cb = [](void*, outrigger_status s) { (s == OUTRIGGER_OK ? ok_calls : stale_calls)++; };
  std::thread([&] { ph->post(ph->host_ctx, handle, cb, nullptr); }).join();
  h.loop.runUntilForTest([] { return ok_calls == 1; }, 1000);
  CHECK(ok_calls == 1);
  h.onLoop([&] { h.engine.cancel(handle, Code::kCancelled, "bye"); return 0; });
  std::thread([&] { ph->post(ph->host_ctx, handle, cb, nullptr); }).join();
  h.loop.runUntilForTest([] { return stale_calls == 1; }, 1000);
  CHECK(stale_calls == 1);
}

TEST_CASE("a provider that never completes hits the deadline and is cancelled once") {
  Harness h;
  g.provider_mode = "hang";
  h.start({.timeout_ms = 30});
  REQUIRE(h.runUntilEnded());
  CHECK(h.sink.ends[0].code == Code::kDeadlineExceeded);
  CHECK(h.sink.ends[0].origin == "provider/probe");
  CHECK(g.provider_cancels == 1);
  CHECK(h.engine.inFlight() == 0);
}

TEST_CASE("a client cancel reaches the pending provider") {
  Harness h;
  g.provider_mode = "hang";
  outrigger_request handle = h.start({});
  h.onLoop([&] { h.engine.cancel(handle, Code::kCancelled, "changed my mind"); return 0; });
  REQUIRE(h.sink.ends.size() == 1);
  CHECK(h.sink.ends[0].code == Code::kCancelled);
  CHECK(g.provider_cancels == 1);
  h.onLoop([&] { h.engine.cancel(handle, Code::kCancelled, "again"); return 0; });
  CHECK(h.sink.ends.size() == 1);  // exactly one end
  CHECK(g.provider_cancels == 1);
}

TEST_CASE("a cancel reaches a pending guardrail, and the provider never starts") {
  Harness h;
  g.guard_mode = "pending";
  outrigger_request handle = h.start({});
  h.onLoop([&] { h.engine.cancel(handle, Code::kCancelled, "stop"); return 0; });
  CHECK(g.guard_cancels == 1);
  CHECK(g.provider_starts == 0);
  REQUIRE(h.sink.ends.size() == 1);
}

TEST_CASE("a guardrail deny ends the request with PERMISSION_DENIED and its origin") {
  Harness h;
  g.guard_mode = "deny";
  h.start({});
  REQUIRE(h.runUntilEnded());
  CHECK(h.sink.ends[0].code == Code::kPermissionDenied);
  CHECK(h.sink.ends[0].origin == "guardrail/guard");
  CHECK(h.sink.ends[0].message == "no thanks");
  CHECK(g.provider_starts == 0);
}

TEST_CASE("a flag is recorded and the request goes on") {
  Harness h;
  g.guard_mode = "flag";
  h.start({});
  REQUIRE(h.runUntilEnded());
  CHECK(h.sink.ends[0].code == Code::kOk);
  REQUIRE(h.sink.ends[0].verdicts.size() == 1);
  CHECK(h.sink.ends[0].verdicts[0].kind == VerdictKind::kFlag);
  CHECK(h.sink.ends[0].verdicts[0].reason == "looks odd");
}

TEST_CASE("a throwing guardrail fails closed with on_error=deny and is skipped with on_error=skip") {
  SECTION("deny") {
    Harness h(config::OnError::kDeny);
    g.guard_mode = "throw";
    h.start({});
    REQUIRE(h.runUntilEnded());
    CHECK(h.sink.ends[0].code == Code::kInternal);
    CHECK(h.sink.ends[0].origin == "guardrail/guard");
    CHECK(g.provider_starts == 0);
  }
  SECTION("skip") {
    Harness h(config::OnError::kSkip);
    g.guard_mode = "throw";
    h.start({});
    REQUIRE(h.runUntilEnded());
    CHECK(h.sink.ends[0].code == Code::kOk);
    REQUIRE(h.sink.ends[0].verdicts.size() == 1);
    CHECK(h.sink.ends[0].verdicts[0].kind == VerdictKind::kSkipped);
  }
}

TEST_CASE("chunks stream to the sink, a paused sink makes provider_chunk answer PAUSE, resume reaches the provider") {
  Harness h(config::OnError::kDeny, /*with_guard=*/false);
  g.provider_mode = "chunks";
  h.sink.pause = true;
  outrigger_request handle = h.start({.stream = true});
  CHECK(h.sink.starts == 1);
  CHECK(h.sink.chunks == std::vector<std::string>{"a", "b", "c"});
  CHECK(g.chunk_results == std::vector<outrigger_status>{OUTRIGGER_PAUSE, OUTRIGGER_PAUSE, OUTRIGGER_PAUSE});
  h.onLoop([&] { h.engine.resume(handle); return 0; });
  CHECK(g.provider_resumes == 1);
  const outrigger_host_api* ph = g.provider_host;
  outrigger_response_view ok = plugin::makeResponse();
  h.onLoop([&] { return ph->provider_done(ph->host_ctx, handle, &ok); });
  REQUIRE(h.sink.ends.size() == 1);
  CHECK(h.sink.ends[0].code == Code::kOk);
  CHECK(h.sink.ends[0].content.empty());  // streamed: the text went in the chunks
}

TEST_CASE("a plugin timer learns the request ended early with STALE") {
  Harness h;
  g.provider_mode = "timer";
  outrigger_request handle = h.start({});
  h.onLoop([&] { h.engine.cancel(handle, Code::kCancelled, "stop"); return 0; });
  CHECK(g.timer_stale == 1);
  CHECK(g.timer_ok == 0);
}

TEST_CASE("a request with no messages is INVALID_ARGUMENT and reaches no plugin") {
  Harness h;
  h.start({.messages = {}});
  REQUIRE(h.runUntilEnded());
  CHECK(h.sink.ends[0].code == Code::kInvalidArgument);
  CHECK(g.provider_starts == 0);
}

TEST_CASE("a hook that blocks the loop over the threshold is counted") {
  Harness h;
  g.guard_mode = "slow";
  h.start({});
  REQUIRE(h.runUntilEnded());
  CHECK(h.sink.ends[0].code == Code::kOk);
  // At least the slow one: on a busy machine a preempted quick hook may cross the 1 ms line too.
  CHECK(h.engine.counters().slow_hooks.load() >= 1);
}

TEST_CASE("a guardrail chunk hook can stop a stream mid-way and the provider is cancelled") {
  Harness h;
  g.provider_mode = "chunks";
  g.guard_mode = "deny_chunk_b";
  h.start({.stream = true});
  REQUIRE(h.runUntilEnded());
  CHECK(h.sink.chunks == std::vector<std::string>{"a"});  // "b" never reached the client
  CHECK(g.chunk_results == std::vector<outrigger_status>{OUTRIGGER_OK, OUTRIGGER_E_STALE, OUTRIGGER_E_STALE});
  CHECK(h.sink.ends[0].code == Code::kPermissionDenied);
  CHECK(h.sink.ends[0].origin == "guardrail/guard");
  CHECK(h.sink.ends[0].message == "chunk b is not allowed");
  CHECK(g.provider_cancels == 1);
}

TEST_CASE("a chunk hook's mistakes fail its stage instead of letting the chunk through") {
  // The probe provider streams "a", "b", "c"; the guardrail errs on "b", so only "a" goes out.
  auto streamWith = [](const char* mode, uint32_t timeout_ms = 0) {
    Harness h;
    g.provider_mode = "chunks";
    g.guard_mode = mode;
    h.start({.stream = true, .timeout_ms = timeout_ms});
    REQUIRE(h.runUntilEnded());
    CHECK(h.sink.chunks == std::vector<std::string>{"a"});
    return h.sink.ends.at(0);
  };
  SECTION("a deny decided inside on_chunk stands when the hook then returns CONTINUE") {
    End end = streamWith("deny_inside_chunk_b");
    CHECK(end.code == Code::kPermissionDenied);
    CHECK(end.message == "denied inside");
  }
  SECTION("a RELEASE whose replacement has no header is an error, not the original text") {
    End end = streamWith("release_b_without_hdr");
    CHECK(end.code == Code::kInternal);
    CHECK(end.origin == "guardrail/guard");
  }
  SECTION("a verdict no hook may give is an error") {
    CHECK(streamWith("verdict_77_chunk_b").code == Code::kInternal);
  }
  SECTION("a chunk decision that never comes is the guardrail's deadline, not the provider's") {
    End end = streamWith("pending_chunk_b", 50);
    CHECK(end.code == Code::kDeadlineExceeded);
    CHECK(end.origin == "guardrail/guard");
    CHECK(g.guard_cancels == 1);
  }
}

namespace {
// A unary request through a guardrail in `mode`: its one end.
End requestThroughGuard(const char* mode) {
  Harness h;
  g.guard_mode = mode;
  h.start({.messages = {{"user", "hi there"}}});
  REQUIRE(h.runUntilEnded());
  REQUIRE(h.sink.ends.size() == 1);
  return h.sink.ends[0];
}
}  // namespace

TEST_CASE("a request hook's mistakes fail its stage: nothing it returns by accident lets the request on") {
  for (const char* mode : {"return_42", "return_hold", "verdict_77"}) {
    INFO(mode);
    End end = requestThroughGuard(mode);
    CHECK(end.code == Code::kInternal);
    CHECK(end.origin == "guardrail/guard");
    CHECK(end.message.find("not a value it may return") != std::string::npos);
    CHECK(g.provider_starts == 0);
  }
}

TEST_CASE("a reason of {NULL, 40} is read as empty, not as 40 bytes at address zero") {
  for (const char* mode : {"null_reason", "null_reason_done"}) {
    INFO(mode);
    CHECK(requestThroughGuard(mode).code == Code::kPermissionDenied);
    CHECK(g.provider_starts == 0);
  }
}

TEST_CASE("an embeddings request runs the provider's embed hook, skips guardrails and ends once with the vectors") {
  Harness h;
  h.startEmbed({"ab", "cde"}, 0, 16);
  REQUIRE(h.runUntilEnded());
  REQUIRE(h.sink.ends.size() == 1);
  const End& e = h.sink.ends[0];
  CHECK(e.code == Code::kOk);
  REQUIRE(e.embeddings.size() == 2);
  std::vector<float> first(16, 0.0f), second(16, 0.0f);
  first[0] = 2, second[0] = 3, second[1] = 1;
  CHECK(e.embeddings[0] == first);
  CHECK(e.embeddings[1] == second);
  CHECK(e.model == "probe-embed");
  CHECK(g.embed_calls == 1);
  CHECK(g.embed_dimensions == 16);
  CHECK(g.provider_starts == 0);
  CHECK(g.guard_requests == 0);
  CHECK(h.engine.inFlight() == 0);
  // A completion after the end is harmless.
  outrigger_embeddings_view late{};
  late.hdr = OUTRIGGER_HEADER_INIT(outrigger_embeddings_view);
  CHECK(h.onLoop([&] { return g.provider_host->embeddings_done(g.provider_host->host_ctx, g.last_handle, &late); }) ==
        OUTRIGGER_E_STALE);
  CHECK(h.sink.ends.size() == 1);
}

TEST_CASE("a pending embed hits the deadline, reaches the cancel hook once, and a late completion is stale") {
  Harness h;
  g.embed_mode = "hang";
  h.startEmbed({"x"}, 30);
  REQUIRE(h.runUntilEnded());
  CHECK(h.sink.ends[0].code == Code::kDeadlineExceeded);
  CHECK(g.provider_cancels == 1);
  CHECK(h.engine.inFlight() == 0);
  outrigger_embeddings_view late{};
  late.hdr = OUTRIGGER_HEADER_INIT(outrigger_embeddings_view);
  CHECK(h.onLoop([&] { return g.provider_host->embeddings_done(g.provider_host->host_ctx, g.last_handle, &late); }) ==
        OUTRIGGER_E_STALE);
  CHECK(h.sink.ends.size() == 1);
}

TEST_CASE("a client cancel reaches a pending embed") {
  Harness h;
  g.embed_mode = "hang";
  outrigger_request handle = h.startEmbed({"x"});
  h.onLoop([&] { h.engine.cancel(handle, Code::kCancelled, "gone"); return 0; });
  REQUIRE(h.sink.ends.size() == 1);
  CHECK(h.sink.ends[0].code == Code::kCancelled);
  CHECK(g.provider_cancels == 1);
}

TEST_CASE("a provider that cannot embed answers UNIMPLEMENTED, a wrong vector count is INTERNAL") {
  {
    Harness h;
    g.embed_mode = "unsupported";
    h.startEmbed({"x"});
    REQUIRE(h.runUntilEnded());
    CHECK(h.sink.ends[0].code == Code::kUnimplemented);
    CHECK(h.engine.inFlight() == 0);
  }
  {
    Harness h;
    g.embed_mode = "short";
    h.startEmbed({"x", "y"});
    REQUIRE(h.runUntilEnded());
    CHECK(h.sink.ends[0].code == Code::kInternal);
    CHECK(h.sink.ends[0].embeddings.empty());
  }
  {
    Harness h;  // the second vector one value longer than the first
    g.embed_mode = "ragged";
    h.startEmbed({"x", "y"});
    REQUIRE(h.runUntilEnded());
    CHECK(h.sink.ends[0].code == Code::kInternal);
    CHECK(h.sink.ends[0].message.find("embedding 1 of 3 dimensions after one of 2") != std::string::npos);
  }
  {
    Harness h;  // vectors of 2 for 16 asked, as a server that ignores `dimensions` answers
    g.embed_mode = "ignore_dimensions";
    h.startEmbed({"x"}, 0, 16);
    REQUIRE(h.runUntilEnded());
    CHECK(h.sink.ends[0].code == Code::kInternal);
    CHECK(h.sink.ends[0].message.find("embedding 0 of 2 dimensions, 16 asked") != std::string::npos);
  }
}

TEST_CASE("chat completions do not answer an embed call, embeddings_done does not answer a chat call") {
  {
    Harness h;
    g.embed_mode = "chat_done";
    h.startEmbed({"x"}, 30);
    REQUIRE(h.runUntilEnded());
    CHECK(g.chunk_results == std::vector<outrigger_status>{OUTRIGGER_E_INVALID, OUTRIGGER_E_INVALID});
    CHECK(h.sink.ends[0].code == Code::kDeadlineExceeded);
    CHECK(g.provider_cancels == 1);
  }
  {
    Harness h;
    g.provider_mode = "hang";
    outrigger_request handle = h.start({.timeout_ms = 30});
    outrigger_embeddings_view e{};
    e.hdr = OUTRIGGER_HEADER_INIT(outrigger_embeddings_view);
    CHECK(h.onLoop([&] { return g.provider_host->embeddings_done(g.provider_host->host_ctx, handle, &e); }) ==
          OUTRIGGER_E_INVALID);
    REQUIRE(h.runUntilEnded());
    CHECK(h.sink.ends[0].code == Code::kDeadlineExceeded);
  }
}
