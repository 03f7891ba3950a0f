// The provider phase's limit queue, hedging, and embeddings under the same planner, on a real loop
// with a two-target route of probe providers the test completes by hand: exactly one end on every
// path, the loser cancelled, and the engine counters. Then how the host reads a provider's odd
// answer (NULL arrays and strings, a cost that is no amount).
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <map>
#include <optional>

#include <outrigger/plugin.hpp>

#include "chain/engine.h"
#include "chain/host_api.h"
#include "chain/limit_queue.h"
#include "outrigger_generated.h"
#include "plugin/schema.h"
#include "support/frames.h"
#include "plugin/loader.h"
#include "support/memory_limiter.h"

using namespace outrigger;
using namespace outrigger::testing;

namespace {

// Per instance name: what its provider saw and how to reach its host API.
struct Seen {
  int starts = 0;
  int cancels = 0;
  int embeds = 0;
  std::vector<outrigger_request> handles;
  const outrigger_host_api* host = nullptr;
  bool echo = false;  // answer at once instead of waiting for the test
  bool no_embed = false;  // embed answers OUTRIGGER_E_UNSUPPORTED, as a chat-only provider's does
  outrigger_status start_status = OUTRIGGER_PENDING;  // negative: start cannot take the call
};
std::map<std::string, Seen> g_seen;

class HandProvider final : public plugin::Provider {
 public:
  static constexpr const char* kName = "hand";
  static constexpr const char* kDescription = "a provider the test completes";
  static constexpr const char* kConfigSchema = "{}";
  HandProvider(plugin::Host h, std::string_view n, std::string_view) : Provider(h, n), name_(n) {
    g_seen[name_].host = h.api();
  }
  outrigger_status start(const outrigger_request_view& r) override {
    Seen& s = g_seen[name_];
    ++s.starts;
    if (s.start_status != OUTRIGGER_PENDING) return s.start_status;
    s.handles.push_back(r.handle);
    if (s.echo) {
      outrigger_response_view resp = plugin::makeResponse();
      resp.content = plugin::str(name_);
      host().providerDone(r.handle, resp);
    }
    return OUTRIGGER_PENDING;
  }
  void cancel(outrigger_request) override { ++g_seen[name_].cancels; }
  outrigger_status embed(const outrigger_embed_request_view& r) override {
    Seen& s = g_seen[name_];
    if (s.no_embed) return OUTRIGGER_E_UNSUPPORTED;
    ++s.embeds;
    s.handles.push_back(r.handle);
    return OUTRIGGER_PENDING;
  }

 private:
  std::string name_;
};

struct End {
  Code code;
  std::string content;
  bool retryable;
  uint32_t retry_after_ms;
  size_t embeddings;
  double cost_usd;
  size_t tool_calls;
};

class Sink : public ResponseSink {
 public:
  void onStart(uint64_t, const ResponseStartInfo&) override {}
  Flow onChunk(uint64_t, const ResponseChunkInfo&) override { return Flow::kOk; }
  void onEnd(uint64_t sid, const ResponseEndInfo& e) override {
    ends[sid].push_back({e.code, std::string(e.content), e.retryable, e.retry_after_ms,
                         e.embeddings ? e.embeddings->size() : 0, e.cost_usd, e.tool_calls ? e.tool_calls->size() : 0});
  }
  std::map<uint64_t, std::vector<End>> ends;
};

plugin::PluginType handType() {
  plugin::PluginType t;
  t.c_type = plugin::typeOf<HandProvider>();
  t.kind = t.c_type->kind;
  t.name = "hand";
  t.schema = plugin::compileSchema(R"({"type":"object"})").value();
  return t;
}

// A route "default" over `targets` in order (each its own instance) with `policy`; the first
// target allows `first_max_concurrent` attempts at once (0: unlimited). A second worker of the
// same process is a second rig given the first one's registry, another loop index and a suffix
// for its instance names (its targets keep their keys, "<name>/m").
struct Rig {
  event::EventLoop loop;
  chain::Engine engine;
  plugin::PluginType type = handType();
  Sink sink;

  Rig(resilience::RoutePolicy policy, std::vector<std::string> targets, uint32_t first_max_concurrent = 0,
      resilience::HealthRegistry* shared = nullptr, uint32_t loop_index = 43, const std::string& suffix = "",
      std::vector<chain::Stage> limiters = {}, std::optional<std::string> fallback_answer = {}, uint32_t first_rpm = 0)
      : loop(loop_index), engine(loop, {60000, 600000, 1000000}, nullptr, shared) {
    if (suffix.empty()) g_seen.clear();
    auto chain = std::make_shared<chain::WorkerChain>();
    chain::Route r;
    r.name = "default";
    for (const std::string& name : targets) {
      config::InstanceSettings is{name + suffix, "provider", "hand", "{}", config::OnError::kDeny, "t:1", {}};
      chain::Target t;
      t.stage = {plugin::PluginInstance::create(type, is, chain::hostApiTemplate()).value(), "provider/" + name + suffix};
      t.key = name + "/m";
      t.shared = resilience::targetPolicyOf(policy);  // what the chain's build merges for one route
      r.targets.push_back(std::move(t));
    }
    r.targets[0].max_concurrent = first_max_concurrent;
    r.targets[0].rpm = first_rpm;
    r.provider = r.targets[0].stage;
    r.policy = policy;
    r.limiters = std::move(limiters);
    r.fallback_answer = std::move(fallback_answer);
    chain::layOutSteps(&chain->routes.emplace("default", std::move(r)).first->second);
    chain->default_route = "default";
    engine.setChain(chain);
  }
  ~Rig() { loop.runUntilForTest([] { return false; }, 5); }

  outrigger_request start(uint64_t sid, RequestSpec spec = {}) {
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
  // Completes the latest attempt `name` received, OK with `text` or failed with `code`.
  outrigger_status answer(const std::string& name, const std::string& text, outrigger_code code = OUTRIGGER_CODE_OK,
                          size_t which = SIZE_MAX) {
    outrigger_response_view r = plugin::makeResponse();
    r.code = code;
    r.retryable = code == OUTRIGGER_CODE_UNAVAILABLE;
    r.content = plugin::str(text);
    return answerWith(name, r, which);
  }
  // Completes the latest attempt `name` received with `r` as given.
  outrigger_status answerWith(const std::string& name, const outrigger_response_view& r, size_t which = SIZE_MAX) {
    Seen& s = g_seen[name];
    outrigger_request h = which == SIZE_MAX ? s.handles.back() : s.handles[which];
    outrigger_status st = OUTRIGGER_E_INVALID;
    loop.runUntilForTest([&] {
      st = s.host->provider_done(s.host->host_ctx, h, &r);
      return true;
    }, 10);
    return st;
  }
  // Streams `chunk` from the latest attempt `name` received.
  outrigger_status chunk(const std::string& name, const outrigger_chunk_view& chunk) {
    Seen& s = g_seen[name];
    outrigger_status st = OUTRIGGER_E_INVALID;
    loop.runUntilForTest([&] {
      st = s.host->provider_chunk(s.host->host_ctx, s.handles.back(), &chunk);
      return true;
    }, 10);
    return st;
  }
  // An embeddings request of `inputs`.
  outrigger_request startEmbed(uint64_t sid, std::vector<std::string> inputs, RequestSpec spec = {}) {
    spec.messages.clear();
    std::string f = requestFrame(sid, spec);
    auto buf = chain::FrameBuffer::copyOf(reinterpret_cast<const uint8_t*>(f.data()), f.size());
    const auto* req = wire::GetSizePrefixedFrame(buf.data())->body_as_Request();
    auto embed = std::make_unique<chain::EmbedInput>();
    embed->inputs = std::move(inputs);
    outrigger_request h{};
    loop.runUntilForTest([&] {
      h = engine.start(std::move(buf), req, &sink, sid, std::move(embed));
      return true;
    }, 10);
    return h;
  }
  // Completes the latest embed call `name` received: one vector per input, or failed with `code`
  // (retryable when UNAVAILABLE).
  outrigger_status answerEmbed(const std::string& name, size_t inputs, outrigger_code code = OUTRIGGER_CODE_OK) {
    Seen& s = g_seen[name];
    std::vector<float> values = {1, 0};
    std::vector<outrigger_embedding_view> vectors(inputs, outrigger_embedding_view{values.data(), values.size()});
    outrigger_embeddings_view e{};
    e.hdr = OUTRIGGER_HEADER_INIT(outrigger_embeddings_view);
    e.code = code;
    e.retryable = code == OUTRIGGER_CODE_UNAVAILABLE;
    if (code == OUTRIGGER_CODE_OK) {
      e.embeddings = vectors.data();
      e.embedding_count = vectors.size();
    }
    outrigger_status st = OUTRIGGER_E_INVALID;
    loop.runUntilForTest([&] {
      st = s.host->embeddings_done(s.host->host_ctx, s.handles.back(), &e);
      return true;
    }, 10);
    return st;
  }
  bool runUntil(const std::function<bool()>& done, uint64_t ms = 2000) { return loop.runUntilForTest(done, ms); }
  const chain::EngineCounters& counters() { return engine.counters(); }
};

resilience::RoutePolicy queued(uint32_t max, uint32_t timeout_ms) {
  resilience::RoutePolicy p;
  p.limits.queue = true;
  p.limits.queue_max = max;
  p.limits.queue_timeout_ms = timeout_ms;
  return p;
}

resilience::RoutePolicy hedged(uint32_t delay_ms) {
  resilience::RoutePolicy p;
  p.hedge.delay_ms = delay_ms;
  return p;
}

}  // namespace

TEST_CASE("limit queue: over the limit waits in order, a full queue fails fast, a freed slot starts the next") {
  Rig rig(queued(2, 5000), {"a"}, /*first_max_concurrent=*/1);
  rig.start(1);
  REQUIRE(g_seen["a"].starts == 1);
  rig.start(2);
  rig.start(3);
  CHECK(g_seen["a"].starts == 1);  // both wait
  CHECK(rig.counters().queued == 2);
  rig.start(4);                     // the queue holds two: refused at once, retryable
  REQUIRE(rig.sink.ends[4].size() == 1);
  CHECK(rig.sink.ends[4][0].code == Code::kResourceExhausted);
  CHECK(rig.sink.ends[4][0].retryable);
  CHECK(rig.counters().queue_full == 1);

  CHECK(rig.answer("a", "one") == OUTRIGGER_OK);
  REQUIRE(rig.sink.ends[1].size() == 1);
  REQUIRE(rig.runUntil([] { return g_seen["a"].starts == 2; }));  // the oldest waiter, on the next turn
  CHECK(rig.sink.ends[3].empty());
  CHECK(rig.answer("a", "two") == OUTRIGGER_OK);
  REQUIRE(rig.runUntil([] { return g_seen["a"].starts == 3; }));
  CHECK(rig.answer("a", "three") == OUTRIGGER_OK);
  CHECK(rig.sink.ends[2].size() == 1);
  CHECK(rig.sink.ends[2][0].content == "two");
  CHECK(rig.sink.ends[3].size() == 1);
  CHECK(rig.sink.ends[3][0].content == "three");
  CHECK(rig.engine.inFlight() == 0);
}

TEST_CASE("limit queue: a cancelled waiter leaves at once with one end and never starts") {
  Rig rig(queued(4, 5000), {"a"}, 1);
  rig.start(1);
  outrigger_request waiter = rig.start(2);
  rig.loop.runUntilForTest([&] {
    rig.engine.cancel(waiter, Code::kCancelled, "changed my mind");
    return true;
  }, 10);
  REQUIRE(rig.sink.ends[2].size() == 1);
  CHECK(rig.sink.ends[2][0].code == Code::kCancelled);
  CHECK(rig.engine.limitQueue("default").size() == 0);
  CHECK(rig.answer("a", "one") == OUTRIGGER_OK);
  rig.runUntil([] { return false; }, 30);
  CHECK(g_seen["a"].starts == 1);  // the cancelled waiter was not started when the slot freed
  CHECK(rig.sink.ends[2].size() == 1);
  CHECK(rig.engine.inFlight() == 0);
}

TEST_CASE("limit queue: a waiter gives up at the queue timeout, and never waits past its deadline") {
  Rig rig(queued(4, 40), {"a"}, 1);
  rig.start(1);
  rig.start(2);
  RequestSpec short_deadline;
  short_deadline.timeout_ms = 20;
  rig.start(3, short_deadline);
  REQUIRE(rig.runUntil([&] { return !rig.sink.ends[3].empty(); }));
  CHECK(rig.sink.ends[3][0].code == Code::kDeadlineExceeded);
  CHECK(rig.sink.ends[2].empty());
  REQUIRE(rig.runUntil([&] { return !rig.sink.ends[2].empty(); }));
  CHECK(rig.sink.ends[2][0].code == Code::kResourceExhausted);
  CHECK(rig.sink.ends[2][0].retryable);
  CHECK(rig.counters().queue_timeouts == 1);
  CHECK(rig.engine.limitQueue("default").size() == 0);
  CHECK(g_seen["a"].starts == 1);
  CHECK(rig.answer("a", "one") == OUTRIGGER_OK);
  CHECK(rig.sink.ends[2].size() == 1);
  CHECK(rig.sink.ends[3].size() == 1);
}

TEST_CASE("limit queue: a queue full of one tenant's waiters does not refuse another tenant that can start") {
  Rig rig(queued(1, 5000), {"a"}, 0, nullptr, 43, "", {memoryLimiterStage("full-queue", R"({"rpm":1})")});
  RequestSpec x, y;
  x.tenant = "x";
  y.tenant = "y";
  rig.start(1, x);
  outrigger_request waiting = rig.start(2, x);  // over x's limit: waits, and fills the queue
  CHECK(rig.counters().queued == 1);
  rig.start(3, y);  // y is within its own limit and the target is free
  CHECK(rig.sink.ends[3].empty());
  CHECK(g_seen["a"].starts == 2);
  CHECK(rig.counters().queue_full == 0);
  CHECK(rig.answer("a", "x one", OUTRIGGER_CODE_OK, 0) == OUTRIGGER_OK);
  CHECK(rig.answer("a", "y one", OUTRIGGER_CODE_OK, 1) == OUTRIGGER_OK);
  CHECK(rig.sink.ends[3].size() == 1);
  CHECK(rig.sink.ends[3][0].code == Code::kOk);
  rig.loop.runUntilForTest([&] {
    rig.engine.cancel(waiting, Code::kCancelled, "done");
    return true;
  }, 10);
}

TEST_CASE("limit queue: a slot freed on one worker starts the request waiting for it on another") {
  resilience::HealthRegistry process;
  Rig one(queued(4, 5000), {"a"}, 1, &process);
  Rig two(queued(4, 5000), {"a"}, 1, &process, 44, "-two");
  one.start(1);
  REQUIRE(g_seen["a"].starts == 1);
  two.start(2);  // the same target: its one slot is taken on the other worker, so this waits
  CHECK(two.counters().queued == 1);
  two.runUntil([] { return false; }, 20);  // its second look, once counted as waiting, finds the same
  CHECK(g_seen["a-two"].starts == 0);
  CHECK(one.answer("a", "one") == OUTRIGGER_OK);  // frees the slot on worker one
  // Worker one posts the wake-up to worker two's loop; the queue timeout is far away.
  REQUIRE(two.runUntil([] { return g_seen["a-two"].starts == 1; }, 1000));
  CHECK(two.answer("a-two", "two") == OUTRIGGER_OK);
  REQUIRE(two.sink.ends[2].size() == 1);
  CHECK(two.sink.ends[2][0].content == "two");
  CHECK(two.engine.limitQueue("default").size() == 0);
  CHECK(process.waiting() == 0);
}

TEST_CASE("limit queue: a tenant's requests per minute hold across workers") {
  resilience::RoutePolicy p;
  resilience::HealthRegistry process;
  // One instance per worker, as a config makes them: the buckets are the instance name's.
  Rig one(p, {"a"}, 0, &process, 43, "", {memoryLimiterStage("two-workers", R"({"rpm":2})")});
  Rig two(p, {"a"}, 0, &process, 44, "-two", {memoryLimiterStage("two-workers", R"({"rpm":2})")});
  RequestSpec x;
  x.tenant = "x";
  one.start(1, x);
  two.start(2, x);
  two.start(3, x);  // the tenant's third request in the minute, on either worker: refused
  one.start(4, x);
  CHECK(g_seen["a"].starts + g_seen["a-two"].starts == 2);
  REQUIRE(two.sink.ends[3].size() == 1);
  CHECK(two.sink.ends[3][0].code == Code::kResourceExhausted);
  REQUIRE(one.sink.ends[4].size() == 1);
  CHECK(one.sink.ends[4][0].code == Code::kResourceExhausted);
  CHECK(one.answer("a", "one") == OUTRIGGER_OK);
  CHECK(two.answer("a-two", "two") == OUTRIGGER_OK);
}

TEST_CASE("limiter.memory: a tenant at its concurrency limit waits in the route's queue and starts when its first request ends") {
  Rig rig(queued(4, 5000), {"a"}, 0, nullptr, 43, "", {memoryLimiterStage("tenant-slots", R"({"max_concurrent":1})")});
  RequestSpec x, y;
  x.tenant = "x";
  y.tenant = "y";
  rig.start(1, x);
  rig.start(2, x);  // x's one slot is taken: waits
  CHECK(g_seen["a"].starts == 1);
  CHECK(rig.counters().queued == 1);
  CHECK(rig.counters().limiter_refusals == 0);
  rig.start(3, y);  // y has its own slot, and queues behind x's waiter for one turn only
  REQUIRE(rig.runUntil([] { return g_seen["a"].starts == 2; }));
  CHECK(rig.answer("a", "x one", OUTRIGGER_CODE_OK, 0) == OUTRIGGER_OK);
  REQUIRE(rig.sink.ends[1].size() == 1);
  // The slot frees when the request has ended (the limiter's request state is released): the
  // waiter is woken then, not at its next refill or timeout.
  REQUIRE(rig.runUntil([] { return g_seen["a"].starts == 3; }));
  CHECK(rig.answer("a", "y one", OUTRIGGER_CODE_OK, 1) == OUTRIGGER_OK);
  CHECK(rig.answer("a", "x two", OUTRIGGER_CODE_OK, 2) == OUTRIGGER_OK);
  REQUIRE(rig.sink.ends[2].size() == 1);
  CHECK(rig.sink.ends[2][0].content == "x two");
  CHECK(rig.engine.limitQueue("default").size() == 0);
  CHECK(rig.engine.inFlight() == 0);
}

TEST_CASE("limiter.memory: without a queue a tenant over its rate fails fast, retryable, with the time to the next token") {
  Rig rig(resilience::RoutePolicy{}, {"a"}, 0, nullptr, 43, "", {memoryLimiterStage("tenant-rate", R"({"rpm":1})")});
  RequestSpec x;
  x.tenant = "x";
  rig.start(1, x);
  rig.start(2, x);
  REQUIRE(rig.sink.ends[2].size() == 1);
  CHECK(rig.sink.ends[2][0].code == Code::kResourceExhausted);
  CHECK(rig.sink.ends[2][0].retryable);
  CHECK(rig.sink.ends[2][0].retry_after_ms > 50000);  // one request a minute: the next token is a minute away
  CHECK(rig.counters().limiter_refusals == 1);
  CHECK(g_seen["a"].starts == 1);
  CHECK(rig.answer("a", "one") == OUTRIGGER_OK);
}

TEST_CASE("limiter.memory: past max_keys a new tenant is refused while every tracked one is busy") {
  Rig rig(resilience::RoutePolicy{}, {"a"}, 0, nullptr, 43, "",
          {memoryLimiterStage("tenant-bound", R"({"rpm":5,"max_keys":1})")});
  RequestSpec x, y;
  x.tenant = "x";
  y.tenant = "y";
  rig.start(1, x);
  rig.start(2, y);
  REQUIRE(rig.sink.ends[2].size() == 1);
  CHECK(rig.sink.ends[2][0].code == Code::kResourceExhausted);
  CHECK(g_seen["a"].starts == 1);
  CHECK(rig.answer("a", "one") == OUTRIGGER_OK);
}

TEST_CASE("limit queue: without on_limit = queue a request over the limit fails fast") {
  Rig rig(resilience::RoutePolicy{}, {"a"}, 1);
  rig.start(1);
  rig.start(2);
  REQUIRE(rig.sink.ends[2].size() == 1);
  CHECK(rig.sink.ends[2][0].code == Code::kResourceExhausted);
  CHECK(rig.counters().queued == 0);
  CHECK(rig.answer("a", "one") == OUTRIGGER_OK);
}

TEST_CASE("hedge: a slow first attempt gets a hedge on the next target, the first answer wins, the loser is cancelled") {
  Rig rig(hedged(20), {"a", "b"});
  rig.start(1);
  REQUIRE(g_seen["a"].starts == 1);
  REQUIRE(rig.runUntil([] { return g_seen["b"].starts == 1; }));
  CHECK(rig.counters().hedges == 1);
  CHECK(rig.answer("b", "from b") == OUTRIGGER_OK);
  REQUIRE(rig.sink.ends[1].size() == 1);
  CHECK(rig.sink.ends[1][0].code == Code::kOk);
  CHECK(rig.sink.ends[1][0].content == "from b");
  CHECK(g_seen["a"].cancels == 1);  // the loser, at once
  CHECK(g_seen["b"].cancels == 0);
  CHECK(rig.counters().hedge_wins == 1);
  CHECK(rig.answer("a", "late") == OUTRIGGER_E_STALE);
  CHECK(rig.sink.ends[1].size() == 1);
}

TEST_CASE("hedge: when the first attempt wins the hedge is cancelled") {
  Rig rig(hedged(20), {"a", "b"});
  rig.start(1);
  REQUIRE(rig.runUntil([] { return g_seen["b"].starts == 1; }));
  CHECK(rig.answer("a", "from a") == OUTRIGGER_OK);
  REQUIRE(rig.sink.ends[1].size() == 1);
  CHECK(rig.sink.ends[1][0].content == "from a");
  CHECK(g_seen["b"].cancels == 1);
  CHECK(rig.counters().hedge_wins == 0);
}

TEST_CASE("hedge: a failure of one hedged attempt does not end the request") {
  Rig rig(hedged(20), {"a", "b"});
  rig.start(1);
  REQUIRE(rig.runUntil([] { return g_seen["b"].starts == 1; }));
  CHECK(rig.answer("a", "", OUTRIGGER_CODE_UNAVAILABLE) == OUTRIGGER_OK);
  CHECK(rig.sink.ends[1].empty());
  CHECK(rig.answer("b", "from b") == OUTRIGGER_OK);
  REQUIRE(rig.sink.ends[1].size() == 1);
  CHECK(rig.sink.ends[1][0].content == "from b");

  rig.start(2);
  REQUIRE(rig.runUntil([] { return g_seen["b"].starts == 2; }));
  CHECK(rig.answer("b", "", OUTRIGGER_CODE_UNAVAILABLE) == OUTRIGGER_OK);
  CHECK(rig.sink.ends[2].empty());
  CHECK(rig.answer("a", "from a") == OUTRIGGER_OK);
  REQUIRE(rig.sink.ends[2].size() == 1);
  CHECK(rig.sink.ends[2][0].content == "from a");
  CHECK(g_seen["a"].starts == 2);  // no fallback attempt on top of the hedge
  CHECK(rig.engine.inFlight() == 0);
}

TEST_CASE("hedge: both hedged attempts failing ends the request once, typed") {
  Rig rig(hedged(20), {"a", "b"});
  rig.start(1);
  REQUIRE(rig.runUntil([] { return g_seen["b"].starts == 1; }));
  CHECK(rig.answer("a", "", OUTRIGGER_CODE_UNAVAILABLE) == OUTRIGGER_OK);
  CHECK(rig.answer("b", "", OUTRIGGER_CODE_UNAVAILABLE) == OUTRIGGER_OK);
  REQUIRE(rig.runUntil([&] { return !rig.sink.ends[1].empty(); }));
  CHECK(rig.sink.ends[1].size() == 1);
  CHECK(rig.sink.ends[1][0].code == Code::kUnavailable);
}

TEST_CASE("hedge: the deadline ends both attempts, each cancelled once") {
  Rig rig(hedged(10), {"a", "b"});
  RequestSpec spec;
  spec.timeout_ms = 300;  // room for the hedge (an attempt needs min_attempt_ms before the deadline)
  rig.start(1, spec);
  REQUIRE(rig.runUntil([] { return g_seen["b"].starts == 1; }));
  CHECK(rig.sink.ends[1].empty());
  REQUIRE(rig.runUntil([&] { return !rig.sink.ends[1].empty(); }));
  CHECK(rig.sink.ends[1][0].code == Code::kDeadlineExceeded);
  CHECK(g_seen["a"].cancels == 1);
  CHECK(g_seen["b"].cancels == 1);
  CHECK(rig.engine.inFlight() == 0);
}

TEST_CASE("hedge: never for streaming calls, and not when the first attempt answers in time") {
  Rig rig(hedged(10), {"a", "b"});
  RequestSpec stream;
  stream.stream = true;
  rig.start(1, stream);
  rig.runUntil([] { return false; }, 40);
  CHECK(g_seen["b"].starts == 0);
  CHECK(rig.answer("a", "streamed") == OUTRIGGER_OK);
  g_seen["a"].echo = true;
  rig.start(2);
  rig.runUntil([] { return false; }, 40);
  CHECK(g_seen["b"].starts == 0);
  CHECK(rig.counters().hedges == 0);
  CHECK(rig.sink.ends[2].size() == 1);
}

TEST_CASE("limit queue: waiters are tried oldest first, one still limited keeps its place") {
  uv_loop_t* loop = nullptr;
  event::EventLoop ev(44);
  loop = ev.loop();
  struct Waiter : chain::LimitWaiter {
    std::vector<int>* order;
    int id;
    bool admit = false;
    int expired = 0;
    bool tryAgain(uint32_t* wake_ms) override {
      order->push_back(id);
      *wake_ms = admit ? 0 : 5;
      return admit;
    }
    void waitExpired() override { ++expired; }
  };
  std::vector<int> order;
  Waiter w1, w2, w3;
  w1.order = w2.order = w3.order = &order;
  w1.id = 1, w2.id = 2, w3.id = 3;
  auto* q = new chain::LimitQueue(loop);
  uint64_t far = ~uint64_t{0} / 2;
  CHECK(q->push(&w1, far, 3));
  CHECK(q->push(&w2, far, 3));
  CHECK(q->push(&w3, 0, 3));  // already expired
  CHECK_FALSE(q->push(&w3, far, 3));
  w2.admit = true;
  q->wakeIn(0);
  ev.runUntilForTest([&] { return order.size() >= 2; }, 1000);
  CHECK(order == std::vector<int>{1, 2});
  CHECK(w3.expired == 1);
  CHECK(q->size() == 1);  // w1, still limited, is tried again at its wake time
  ev.runUntilForTest([&] { return order.size() >= 3; }, 1000);
  CHECK(order.back() == 1);
  q->remove(&w1);
  CHECK(q->size() == 0);
  q->close();
  ev.runUntilForTest([] { return false; }, 5);
}

TEST_CASE("embeddings: a failed attempt falls back to the next target, and an open breaker is skipped") {
  resilience::RoutePolicy policy;
  policy.breaker.failure_threshold = 1;
  Rig rig(policy, {"a", "b"});
  rig.startEmbed(1, {"x", "y"});
  REQUIRE(g_seen["a"].embeds == 1);
  CHECK(g_seen["b"].embeds == 0);
  CHECK(rig.answerEmbed("a", 2, OUTRIGGER_CODE_UNAVAILABLE) == OUTRIGGER_OK);
  REQUIRE(rig.runUntil([] { return g_seen["b"].embeds == 1; }));  // the fallback, from the loop
  CHECK(rig.sink.ends[1].empty());
  CHECK(rig.answerEmbed("b", 2) == OUTRIGGER_OK);
  REQUIRE(rig.sink.ends[1].size() == 1);
  CHECK(rig.sink.ends[1][0].code == Code::kOk);
  CHECK(rig.sink.ends[1][0].embeddings == 2);
  CHECK(rig.counters().fallbacks == 1);

  // "a" failed once: its breaker is open, so the next embeddings request goes to "b" at once.
  rig.startEmbed(2, {"z"});
  CHECK(g_seen["a"].embeds == 1);
  REQUIRE(g_seen["b"].embeds == 2);
  CHECK(rig.counters().breaker_skips >= 1);
  CHECK(rig.answerEmbed("b", 1) == OUTRIGGER_OK);
  REQUIRE(rig.sink.ends[2].size() == 1);
  CHECK(rig.sink.ends[2][0].code == Code::kOk);
  CHECK(rig.engine.inFlight() == 0);
}

TEST_CASE("embeddings: a target's concurrency limit and the route's limiters hold embeddings requests too") {
  {
    Rig rig(resilience::RoutePolicy{}, {"a"}, /*first_max_concurrent=*/1);
    rig.startEmbed(1, {"x"});
    REQUIRE(g_seen["a"].embeds == 1);
    rig.startEmbed(2, {"y"});  // "a" is busy and the route does not queue: refused, retryable
    REQUIRE(rig.sink.ends[2].size() == 1);
    CHECK(rig.sink.ends[2][0].code == Code::kResourceExhausted);
    CHECK(rig.sink.ends[2][0].retryable);
    CHECK(g_seen["a"].embeds == 1);
    CHECK(rig.answerEmbed("a", 1) == OUTRIGGER_OK);
    REQUIRE(rig.sink.ends[1].size() == 1);
    CHECK(rig.sink.ends[1][0].code == Code::kOk);
  }
  {
    Rig rig(resilience::RoutePolicy{}, {"a"}, 0, nullptr, 43, "", {memoryLimiterStage("embed-tenant-rate", R"({"rpm":1})")});
    RequestSpec x;
    x.tenant = "x";
    rig.startEmbed(1, {"x"}, x);
    REQUIRE(g_seen["a"].embeds == 1);
    CHECK(rig.answerEmbed("a", 1) == OUTRIGGER_OK);
    rig.startEmbed(2, {"y"}, x);  // the tenant's one request a minute is spent
    REQUIRE(rig.sink.ends[2].size() == 1);
    CHECK(rig.sink.ends[2][0].code == Code::kResourceExhausted);
    CHECK(rig.counters().limiter_refusals == 1);
    CHECK(g_seen["a"].embeds == 1);
  }
}

TEST_CASE("embeddings: a loop guard tells embeddings requests apart by their inputs") {
  auto types = plugin::loadLibrary(OUTRIGGER_PLUGIN_DIR "/limiter_loop_guard.so").value();
  config::InstanceSettings is{"embed-loops", "limiter", "loop_guard", R"({"key":"tenant","max_repeats":2})", config::OnError::kDeny,
                              "t:1", {}};
  chain::Stage loops{plugin::PluginInstance::create(*types.at(0), is, chain::hostApiTemplate()).value(), "limiter/embed-loops"};
  Rig rig(resilience::RoutePolicy{}, {"a"}, 0, nullptr, 43, "", {loops});
  RequestSpec x;
  x.tenant = "x";
  for (uint64_t sid = 1; sid <= 3; ++sid) {  // three different inputs from one tenant: no loop
    rig.startEmbed(sid, {"input " + std::to_string(sid)}, x);
    REQUIRE(rig.answerEmbed("a", 1) == OUTRIGGER_OK);
    REQUIRE(rig.sink.ends[sid].size() == 1);
    CHECK(rig.sink.ends[sid][0].code == Code::kOk);
  }
  for (uint64_t sid = 4; sid <= 5; ++sid) {  // the same input twice more: 2 repeats are allowed
    rig.startEmbed(sid, {"input 1"}, x);
    if (sid == 4) REQUIRE(rig.answerEmbed("a", 1) == OUTRIGGER_OK);
  }
  REQUIRE(rig.sink.ends[5].size() == 1);
  CHECK(rig.sink.ends[5][0].code == Code::kResourceExhausted);  // the third time of "input 1"
  CHECK(g_seen["a"].embeds == 4);
}

TEST_CASE("embeddings: a target that cannot embed is passed over, and with none left the request is UNIMPLEMENTED") {
  Rig rig(resilience::RoutePolicy{}, {"a", "b"});
  g_seen["a"].no_embed = true;
  rig.startEmbed(1, {"x"});
  REQUIRE(g_seen["b"].embeds == 1);  // at once: "a" answered that it cannot
  CHECK(rig.answerEmbed("b", 1) == OUTRIGGER_OK);
  REQUIRE(rig.sink.ends[1].size() == 1);
  CHECK(rig.sink.ends[1][0].code == Code::kOk);
  g_seen["b"].no_embed = true;
  rig.startEmbed(2, {"y"});
  REQUIRE(rig.sink.ends[2].size() == 1);
  CHECK(rig.sink.ends[2][0].code == Code::kUnimplemented);
  CHECK(rig.engine.inFlight() == 0);
}

TEST_CASE("a provider that cannot start the call fails that attempt: the next target takes it at once, no breaker counts it, and with none left the request is INTERNAL") {
  resilience::RoutePolicy policy;
  policy.breaker.failure_threshold = 1;
  policy.retry.max_attempts = 3;
  Rig rig(policy, {"a", "b"});
  g_seen["a"].start_status = OUTRIGGER_E_NOMEM;
  rig.start(1);
  CHECK(g_seen["a"].starts == 1);  // never again on the same target
  REQUIRE(g_seen["b"].starts == 1);
  CHECK(rig.answer("b", "from b") == OUTRIGGER_OK);
  REQUIRE(rig.sink.ends[1].size() == 1);
  CHECK(rig.sink.ends[1][0].code == Code::kOk);
  CHECK(rig.sink.ends[1][0].content == "from b");
  CHECK(rig.counters().fallbacks == 1);
  CHECK(rig.engine.health().target("a/m").in_flight == 0);
  // "a"'s breaker (one failure opens it) stayed closed: the next request starts there.
  g_seen["a"].start_status = OUTRIGGER_PENDING;
  rig.start(2);
  REQUIRE(g_seen["a"].starts == 2);
  CHECK(g_seen["b"].starts == 1);
  CHECK(rig.answer("a", "from a") == OUTRIGGER_OK);
  REQUIRE(rig.sink.ends[2].size() == 1);
  CHECK(rig.sink.ends[2][0].content == "from a");
  // Neither can start: one end, INTERNAL, not retryable.
  g_seen["a"].start_status = g_seen["b"].start_status = OUTRIGGER_E_INVALID;
  rig.start(3);
  REQUIRE(rig.sink.ends[3].size() == 1);
  CHECK(rig.sink.ends[3][0].code == Code::kInternal);
  CHECK_FALSE(rig.sink.ends[3][0].retryable);
  CHECK(g_seen["b"].starts == 2);
  CHECK(rig.engine.inFlight() == 0);
  CHECK(rig.engine.health().target("a/m").in_flight == 0);
  CHECK(rig.engine.health().target("b/m").in_flight == 0);
}

TEST_CASE("a start that failed gives back the request token it took from the target's rpm") {
  Rig rig(resilience::RoutePolicy{}, {"a", "b"}, 0, nullptr, 43, "", {}, std::nullopt, /*first_rpm=*/2);
  g_seen["a"].start_status = OUTRIGGER_E_NOMEM;
  for (uint64_t sid : {1, 2, 3}) {
    rig.start(sid);
    CHECK(rig.answer("b", "from b") == OUTRIGGER_OK);
  }
  CHECK(g_seen["a"].starts == 3);  // each admitted: "a" never reached its upstream
  g_seen["a"].start_status = OUTRIGGER_PENDING;
  rig.start(4);
  REQUIRE(g_seen["a"].starts == 4);
  CHECK(rig.answer("a", "from a") == OUTRIGGER_OK);
  REQUIRE(rig.sink.ends[4].size() == 1);
  CHECK(rig.sink.ends[4][0].content == "from a");
}

TEST_CASE("embeddings: a target passed over as unable to embed gives back the request token it took from its rpm") {
  Rig rig(resilience::RoutePolicy{}, {"a", "b"}, 0, nullptr, 43, "", {}, std::nullopt, /*first_rpm=*/2);
  g_seen["a"].no_embed = true;
  for (uint64_t sid : {1, 2, 3}) {
    rig.startEmbed(sid, {"x"});
    CHECK(rig.answerEmbed("b", 1) == OUTRIGGER_OK);
  }
  g_seen["a"].no_embed = false;
  rig.startEmbed(4, {"y"});
  REQUIRE(g_seen["a"].embeds == 1);  // admitted: its rpm of 2 was never spent
  CHECK(rig.answerEmbed("a", 1) == OUTRIGGER_OK);
  REQUIRE(rig.sink.ends[4].size() == 1);
  CHECK(rig.sink.ends[4][0].code == Code::kOk);
}

TEST_CASE("a start that returns a status it may not return ends the request INTERNAL, its call cancelled, no other target started") {
  Rig rig(resilience::RoutePolicy{}, {"a", "b"});
  g_seen["a"].start_status = OUTRIGGER_OK;
  rig.start(1);
  REQUIRE(rig.sink.ends[1].size() == 1);
  CHECK(rig.sink.ends[1][0].code == Code::kInternal);
  CHECK(g_seen["a"].cancels == 1);
  CHECK(g_seen["b"].starts == 0);
  CHECK(rig.engine.inFlight() == 0);
}

TEST_CASE("a route whose every target cannot start the call serves its degraded answer") {
  Rig rig(resilience::RoutePolicy{}, {"a", "b"}, 0, nullptr, 43, "", {}, std::string("try again later"));
  g_seen["a"].start_status = g_seen["b"].start_status = OUTRIGGER_E_NOMEM;
  rig.start(1);
  REQUIRE(rig.sink.ends[1].size() == 1);
  CHECK(rig.sink.ends[1][0].code == Code::kOk);
  CHECK(rig.sink.ends[1][0].content == "try again later");
  CHECK(rig.engine.inFlight() == 0);
}

TEST_CASE("a provider's answer is read as the plugin guide says: a NULL array is empty, NULL text with a size refused, a cost that is no amount none") {
  Rig rig(resilience::RoutePolicy{}, {"a"});
  SECTION("a NULL tool call array with a count, unary and streamed") {
    rig.start(1);
    outrigger_response_view r = plugin::makeResponse();
    r.content = plugin::str("text");
    r.tool_call_count = 3;  // tool_calls stays NULL
    CHECK(rig.answerWith("a", r) == OUTRIGGER_OK);
    REQUIRE(rig.sink.ends[1].size() == 1);
    CHECK(rig.sink.ends[1][0].code == Code::kOk);
    CHECK(rig.sink.ends[1][0].content == "text");
    CHECK(rig.sink.ends[1][0].tool_calls == 0);
    RequestSpec streamed;
    streamed.stream = true;
    rig.start(2, streamed);
    outrigger_chunk_view c = plugin::makeChunk("part");
    c.tool_call_count = 2;
    CHECK(rig.chunk("a", c) == OUTRIGGER_OK);
    CHECK(rig.answerWith("a", plugin::makeResponse()) == OUTRIGGER_OK);
    REQUIRE(rig.sink.ends[2].size() == 1);
    CHECK(rig.sink.ends[2][0].code == Code::kOk);
  }
  SECTION("NULL text with a size, in an answer and in a tool call") {
    rig.start(3);
    outrigger_response_view r = plugin::makeResponse();
    r.content = outrigger_str{nullptr, 5};
    CHECK(rig.answerWith("a", r) == OUTRIGGER_OK);
    REQUIRE(rig.sink.ends[3].size() == 1);
    CHECK(rig.sink.ends[3][0].code == Code::kUnavailable);
    rig.start(4);
    outrigger_tool_call_view call{};
    call.name = outrigger_str{nullptr, 7};
    r = plugin::makeResponse();
    r.tool_calls = &call;
    r.tool_call_count = 1;
    CHECK(rig.answerWith("a", r) == OUTRIGGER_OK);
    REQUIRE(rig.sink.ends[4].size() == 1);
    CHECK(rig.sink.ends[4][0].code == Code::kUnavailable);
  }
  SECTION("a reported cost that is infinite, NaN or negative") {
    uint64_t sid = 10;
    for (double cost : {std::numeric_limits<double>::infinity(), std::nan(""), -1000.0, 0.25}) {
      rig.start(sid);
      outrigger_response_view r = plugin::makeResponse();
      r.content = plugin::str("x");
      r.cost_usd = cost;
      CHECK(rig.answerWith("a", r) == OUTRIGGER_OK);
      REQUIRE(rig.sink.ends[sid].size() == 1);
      INFO("reported " << cost);
      CHECK(rig.sink.ends[sid][0].cost_usd == (cost == 0.25 ? 0.25 : 0.0));
      ++sid;
    }
  }
}
