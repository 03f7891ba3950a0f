// ABI 1.2 model calls on a real loop: a guardrail asks a judge route through the host
// (complete), a plugin embeds through an embeddings route (embed). The child runs its own route
// under the caller's tenant, trace and deadline; the caller's end cancels it; a route may only
// call what its `calls` names, and calls may not form a cycle.
#include <catch2/catch.hpp>

#include <thread>

#include <outrigger/plugin.hpp>

#include "chain/chain.h"
#include "chain/engine.h"
#include "chain/host_api.h"
#include "config/config.h"
#include "plugin/schema.h"
#include "support/in_test_plugins.h"

using namespace outrigger;
using outrigger::testing::typeFor;

namespace {

struct Script {
  std::string judge_route = "judge";  // what the guardrail calls
  std::string judge_says = "yes";     // the judge provider's answer; "hang": never answers
  std::string question = "Is this fine? ";  // what the guardrail asks, before the prompt
  std::string role = "user";                // the role of the guardrail's question
  std::string deny_reason = "the judge said no";
  std::string span_value = "judged";  // an attribute the guardrail puts on its span
  outrigger_status span_status = OUTRIGGER_OK;
  bool embed_empty = false;  // embed "" instead of the question
  bool use_embed = false;             // the guardrail embeds instead of asking
  uint32_t call_timeout_ms = 0;
  uint32_t call_after_ms = 0;         // the guardrail waits this long before it calls
  outrigger_status call_status = OUTRIGGER_OK;
  int callbacks = 0;
  outrigger_code callback_code = -1;
  std::string judge_saw, judge_tenant, judge_trace, main_trace, judge_traceparent;
  uint64_t judge_deadline = 0, main_deadline = 0;
  int judge_cancels = 0;
  std::vector<float> vector;
  outrigger_request main_handle{};
};
Script s;

// Answers "main" requests by echo; "judge" requests with the script's verdict; embeds by length.
class Scripted final : public plugin::Provider {
 public:
  static constexpr const char* kName = "scripted";
  static constexpr const char* kDescription = "test provider";
  static constexpr const char* kConfigSchema = "{}";
  Scripted(plugin::Host h, std::string_view n, std::string_view) : Provider(h, n) {}

  outrigger_status start(const outrigger_request_view& r) override {
    outrigger_response_view resp = plugin::makeResponse();
    if (plugin::view(r.route) == "judge") {
      s.judge_saw = std::string(plugin::view(r.messages[0].content));
      s.judge_tenant = std::string(plugin::view(r.metadata->tenant));
      s.judge_trace = std::string(plugin::view(r.trace_id));
      s.judge_traceparent = std::string(plugin::view(r.metadata->traceparent));
      s.judge_deadline = r.deadline_ns;
      if (s.judge_says == "hang") return OUTRIGGER_PENDING;
      resp.content = plugin::str(s.judge_says);
    } else {
      s.main_trace = std::string(plugin::view(r.trace_id));
      resp.content = r.messages[r.message_count - 1].content;
    }
    host().providerDone(r.handle, resp);
    return OUTRIGGER_PENDING;
  }
  void cancel(outrigger_request) override { ++s.judge_cancels; }
  outrigger_status embed(const outrigger_embed_request_view& r) override {
    std::vector<float> v = {float(r.inputs[0].size), 1.0f};
    outrigger_embedding_view ev{v.data(), v.size()};
    outrigger_embeddings_view e{};
    e.hdr = OUTRIGGER_HEADER_INIT(outrigger_embeddings_view);
    e.embeddings = &ev;
    e.embedding_count = 1;
    host().embeddingsDone(r.handle, e);
    return OUTRIGGER_PENDING;
  }
};

// Asks the judge route whether the prompt is fine, and passes or denies on its answer.
class Judge final : public plugin::Guardrail {
 public:
  static constexpr const char* kName = "judge";
  static constexpr const char* kDescription = "test guardrail";
  static constexpr const char* kConfigSchema = "{}";
  Judge(plugin::Host h, std::string_view n, std::string_view) : Guardrail(h, n) {}

  outrigger_status onRequest(const outrigger_request_view& r, outrigger_guardrail_result&) override {
    s.main_handle = r.handle;
    s.main_deadline = r.deadline_ns;
    question_ = s.question + std::string(plugin::view(r.messages[0].content));
    s.span_status = host().spanAttribute(r.handle, "outrigger.judge.note", s.span_value);
    if (s.call_after_ms) {
      outrigger_request h = r.handle;
      host().setTimer(h, s.call_after_ms, [this, h](outrigger_status st) {
        if (st == OUTRIGGER_OK && ask(h) != OUTRIGGER_OK) host().guardrailDone(h, OUTRIGGER_VERDICT_DENY, "call refused");
      });
      return OUTRIGGER_PENDING;
    }
    outrigger_status rc = ask(r.handle);
    return rc == OUTRIGGER_OK ? OUTRIGGER_PENDING : rc;
  }

 private:
  // Asks the judge (or embeds) and decides in the callback; the call's own status.
  outrigger_status ask(outrigger_request h) {
    outrigger_message_view m{plugin::str(s.role), plugin::str(question_), {}, {}, nullptr, 0};
    outrigger_str input = s.embed_empty ? outrigger_str{"", 0} : plugin::str(question_);
    outrigger_model_call call{};
    call.hdr = OUTRIGGER_HEADER_INIT(outrigger_model_call);
    call.route = plugin::str(s.judge_route);
    call.timeout_ms = s.call_timeout_ms;
    if (s.use_embed) {
      call.inputs = &input;
      call.input_count = 1;
      s.call_status = host().embed(h, call, [this, h](const outrigger_embeddings_view& e) {
        ++s.callbacks;
        s.callback_code = e.code;
        if (e.embedding_count) s.vector.assign(e.embeddings[0].values, e.embeddings[0].values + e.embeddings[0].size);
        host().guardrailDone(h, OUTRIGGER_VERDICT_PASS, "");
      });
    } else {
      call.messages = &m;
      call.message_count = 1;
      s.call_status = host().complete(h, call, [this, h](const outrigger_response_view& a) {
        ++s.callbacks;
        s.callback_code = a.code;
        bool yes = a.code == OUTRIGGER_CODE_OK && plugin::view(a.content) == "yes";
        host().guardrailDone(h, yes ? OUTRIGGER_VERDICT_PASS : OUTRIGGER_VERDICT_DENY, yes ? "" : s.deny_reason);
      });
    }
    return s.call_status;
  }

  std::string question_;
};

struct Outcome {
  Code code = Code::kUnknown;
  std::string content, message;
  int ends = 0;
};

class Sink : public ResponseSink {
 public:
  void onStart(uint64_t, const ResponseStartInfo&) override {}
  Flow onChunk(uint64_t, const ResponseChunkInfo&) override { return Flow::kOk; }
  void onEnd(uint64_t, const ResponseEndInfo& e) override {
    out = {e.code, std::string(e.content), std::string(e.message), out.ends + 1};
  }
  Outcome out;
};

// Routes: "main" = [judge guardrail] -> scripted, calls = ["judge"]; "judge" -> scripted.
struct Rig {
  event::EventLoop loop{50};
  chain::Engine engine{loop, {60000, 600000, 1000000}, nullptr};
  plugin::PluginType provider_type = typeFor(plugin::typeOf<Scripted>());
  plugin::PluginType judge_type = typeFor(plugin::typeOf<Judge>());
  Sink sink;

  Rig() {
    s = Script{};
    config::InstanceSettings ps{"scripted", "provider", "scripted", "{}", config::OnError::kDeny, "t:1", {}};
    config::InstanceSettings js{"judge", "guardrail", "judge", "{}", config::OnError::kDeny, "t:2", {}};
    auto provider = plugin::PluginInstance::create(provider_type, ps, chain::hostApiTemplate()).value();
    auto chain = std::make_shared<chain::WorkerChain>();
    chain::Route main;
    main.name = "main";
    main.provider = {provider, "provider/scripted"};
    main.guardrails.push_back({plugin::PluginInstance::create(judge_type, js, chain::hostApiTemplate()).value(), "guardrail/judge"});
    main.calls = {"judge"};
    chain::Route judge;
    judge.name = "judge";
    judge.provider = {provider, "provider/scripted"};
    chain::layOutSteps(&chain->routes.emplace("main", std::move(main)).first->second);
    chain::layOutSteps(&chain->routes.emplace("judge", std::move(judge)).first->second);
    chain->default_route = "main";
    engine.setChain(chain);
  }
  ~Rig() { loop.runUntilForTest([] { return false; }, 5); }

  void start(uint32_t timeout_ms = 0) {
    auto in = std::make_unique<chain::CallInput>();
    in->model = "main";
    in->tenant = "acme";
    in->messages.push_back({"user", "hello", "", "", {}});
    in->timeout_ms = timeout_ms;
    loop.runUntilForTest([&] {
      engine.start(std::move(in), &sink, 1);
      return true;
    }, 10);
  }
  const Outcome& run() {
    start();
    loop.runUntilForTest([&] { return sink.out.ends > 0; }, 2000);
    return sink.out;
  }
};

}  // namespace

TEST_CASE("a guardrail asks a judge route through the host: same tenant and trace, its verdict decides") {
  Rig rig;
  const Outcome& out = rig.run();
  REQUIRE(out.code == Code::kOk);
  CHECK(out.content == "hello");
  CHECK(s.callbacks == 1);
  CHECK(s.judge_saw == "Is this fine? hello");
  CHECK(s.judge_tenant == "acme");
  CHECK(!s.main_trace.empty());
  CHECK(s.judge_trace == s.main_trace);
  // A W3C traceparent naming the caller's trace and the caller's span for the call.
  REQUIRE(s.judge_traceparent.size() == 55);
  CHECK(s.judge_traceparent.substr(0, 3) == "00-");
  CHECK(s.judge_traceparent.substr(3, 32) == s.main_trace);
  CHECK(s.judge_deadline <= s.main_deadline);
  CHECK(s.span_status == OUTRIGGER_OK);
  CHECK(rig.engine.inFlight() == 0);
}

TEST_CASE("a model call made after a reload runs on its caller's config, never on the new one's routes") {
  Rig rig;
  s.call_after_ms = 30;
  rig.start();
  // The reload: a config with no "judge" route, whose default route would echo the question.
  auto next = std::make_shared<chain::WorkerChain>();
  chain::Route other;
  other.name = "other";
  other.provider = rig.engine.chain()->routes.at("judge").provider;
  chain::layOutSteps(&next->routes.emplace("other", std::move(other)).first->second);
  next->default_route = "other";
  rig.loop.runUntilForTest([&] {
    rig.engine.setChain(next);
    return true;
  }, 10);
  REQUIRE(rig.loop.runUntilForTest([&] { return rig.sink.out.ends > 0; }, 2000));
  INFO(rig.sink.out.message);
  CHECK(s.judge_saw == "Is this fine? hello");  // the old config's judge route answered
  CHECK(rig.sink.out.code == Code::kOk);
  CHECK(s.callbacks == 1);
}

TEST_CASE("the judge's no denies the caller") {
  Rig rig;
  s.judge_says = "no";
  const Outcome& out = rig.run();
  CHECK(out.code == Code::kPermissionDenied);
  CHECK(out.message == "the judge said no");
}

TEST_CASE("a route the caller's calls list does not name is refused at the call, nothing runs") {
  Rig rig;
  s.judge_route = "main";  // itself: never allowed
  const Outcome& out = rig.run();
  CHECK(s.call_status == OUTRIGGER_E_INVALID);
  CHECK(s.callbacks == 0);
  CHECK(out.code == Code::kInternal);  // the guardrail failed, on_error = deny
  CHECK(s.judge_saw.empty());
}

TEST_CASE("the caller's end cancels its model call: the child's provider cancels, the callback runs once CANCELLED") {
  Rig rig;
  s.judge_says = "hang";
  rig.start();
  REQUIRE(rig.loop.runUntilForTest([] { return !s.judge_saw.empty(); }, 1000));
  CHECK(rig.engine.inFlight() == 2);
  rig.loop.runUntilForTest([&] {
    rig.engine.cancel(s.main_handle, Code::kDeadlineExceeded, "deadline exceeded");
    return true;
  }, 10);
  CHECK(rig.sink.out.ends == 1);
  CHECK(rig.sink.out.code == Code::kDeadlineExceeded);
  CHECK(s.judge_cancels == 1);
  CHECK(s.callbacks == 1);
  CHECK(s.callback_code == OUTRIGGER_CODE_CANCELLED);
  CHECK(rig.engine.inFlight() == 0);
}

TEST_CASE("a model call never outlives the caller's deadline") {
  Rig rig;
  s.judge_says = "hang";
  s.call_timeout_ms = 600000;  // asks for more than the caller has
  rig.start(/*timeout_ms=*/40);
  REQUIRE(rig.loop.runUntilForTest([&] { return rig.sink.out.ends > 0; }, 2000));
  CHECK(s.judge_deadline <= s.main_deadline);  // the child's deadline: the caller's, at most
  INFO("callback code " << s.callback_code << " judge_deadline-main " << int64_t(s.judge_deadline - s.main_deadline));
  CHECK(rig.sink.out.code == Code::kDeadlineExceeded);
  CHECK(s.callbacks == 1);
}

TEST_CASE("a plugin embeds through an embeddings route and gets the vectors") {
  Rig rig;
  s.use_embed = true;
  const Outcome& out = rig.run();
  REQUIRE(out.code == Code::kOk);
  CHECK(s.callback_code == OUTRIGGER_CODE_OK);
  CHECK(s.vector == std::vector<float>{float(std::string("Is this fine? hello").size()), 1.0f});
}

// Text handed to the host that is not UTF-8 (Latin-1 here) would reach provider bodies, callers'
// JSON and the exporters, where a collector refuses a whole batch for one bad protobuf string.
TEST_CASE("a model call whose text is not UTF-8 is refused at the call, for complete and embed alike") {
  for (bool embed : {false, true}) {
    Rig rig;
    s.use_embed = embed;
    s.question = "Est-ce bien ou mal pay\xe9? ";
    const Outcome& out = rig.run();
    CHECK(s.call_status == OUTRIGGER_E_INVALID);
    CHECK(s.callbacks == 0);
    CHECK(s.judge_saw.empty());
    CHECK(s.vector.empty());
    CHECK(out.code == Code::kInternal);  // the guardrail failed, on_error = deny
  }
}

// The fronts refuse an empty input; a local model answered one with an all-zero vector and OK,
// which no caller can normalise.
TEST_CASE("a plugin's embed call with an empty input is refused at the call") {
  Rig rig;
  s.use_embed = true;
  s.embed_empty = true;
  const Outcome& out = rig.run();
  CHECK(s.call_status == OUTRIGGER_E_INVALID);
  CHECK(s.callbacks == 0);
  CHECK(s.vector.empty());
  CHECK(out.code == Code::kInternal);  // the guardrail failed, on_error = deny
}

// A provider reads a role it does not know as "user" (Anthropic's mapping), so a plugin's message
// in another role would be sent with a meaning it never asked for.
TEST_CASE("a model call with a message role the fronts would refuse is refused at the call") {
  Rig rig;
  s.role = "banana";
  const Outcome& out = rig.run();
  CHECK(s.call_status == OUTRIGGER_E_INVALID);
  CHECK(s.callbacks == 0);
  CHECK(s.judge_saw.empty());
  CHECK(out.code == Code::kInternal);  // the guardrail failed, on_error = deny
}

TEST_CASE("a guardrail's reason that is not UTF-8 reaches the caller repaired, and a span attribute is refused") {
  Rig rig;
  s.judge_says = "no";
  s.deny_reason = "refus\xe9 par le juge";
  s.span_value = "not \xff UTF-8";
  const Outcome& out = rig.run();
  CHECK(out.code == Code::kPermissionDenied);
  CHECK(out.message == "refus\xef\xbf\xbd par le juge");
  CHECK(s.span_status == OUTRIGGER_E_INVALID);
}

TEST_CASE("routes whose calls form a cycle are refused when the config loads") {
  std::string base =
      "[instances.mock]\ntype = \"provider.mock\"\n"
      "[routes.a]\nprovider = \"mock\"\ncalls = [\"b\"]\n"
      "[routes.b]\nprovider = \"mock\"\ncalls = [\"c\"]\n";
  auto cycle = config::parseConfig(base + "[routes.c]\nprovider = \"mock\"\ncalls = [\"a\"]\n", "calls.toml", ".");
  REQUIRE_FALSE(cycle.ok());
  CHECK(cycle.status().message().find("cycle: a -> b -> c -> a") != std::string::npos);
  auto self = config::parseConfig("[instances.mock]\ntype = \"provider.mock\"\n[routes.a]\nprovider = \"mock\"\n"
                                  "calls = [\"a\"]\n",
                                  "calls.toml", ".");
  REQUIRE_FALSE(self.ok());
  auto unknown = config::parseConfig("[instances.mock]\ntype = \"provider.mock\"\n[routes.a]\nprovider = \"mock\"\n"
                                     "calls = [\"nowhere\"]\n",
                                     "calls.toml", ".");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.status().message().find("unknown route 'nowhere'") != std::string::npos);
  auto fine = config::parseConfig(base + "[routes.c]\nprovider = \"mock\"\n", "calls.toml", ".");
  CHECK(fine.ok());
}

TEST_CASE("a model call from another thread is refused and runs nothing") {
  Rig rig;
  s.judge_says = "hang";
  rig.start();
  REQUIRE(rig.loop.runUntilForTest([] { return !s.judge_saw.empty(); }, 1000));
  s.judge_saw.clear();
  // The thread check comes before anything else, so the template table reaches it.
  const outrigger_host_api* api = &chain::hostApiTemplate();
  outrigger_model_call call{};
  call.hdr = OUTRIGGER_HEADER_INIT(outrigger_model_call);
  call.route = plugin::str("judge");
  outrigger_message_view m{plugin::str("user"), plugin::str("again?"), {}, {}, nullptr, 0};
  call.messages = &m;
  call.message_count = 1;
  outrigger_status st = OUTRIGGER_OK;
  outrigger_request h = s.main_handle;
  std::thread([&] {
    st = api->complete(api->host_ctx, h, &call, [](void*, const outrigger_response_view*) noexcept {}, nullptr);
  }).join();
  CHECK(st == OUTRIGGER_E_WRONG_THREAD);
  CHECK(s.judge_saw.empty());
  CHECK(rig.engine.inFlight() == 2);  // the caller and its first call, nothing more
  rig.loop.runUntilForTest([&] {
    rig.engine.cancel(h, Code::kCancelled, "test over");
    return true;
  }, 10);
  CHECK(rig.engine.inFlight() == 0);
}
