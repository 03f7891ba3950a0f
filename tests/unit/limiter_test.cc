// ABI 1.2 limiters on a real loop: admit at once or later, refuse with a code and a retry time,
// settle once per provider attempt (retries included) and once, empty, for an admitted request
// that made none; a cancelled pending admit reaches on_cancel and settles nothing.
#include <catch2/catch.hpp>

#include <deque>
#include <thread>

#include <outrigger/plugin.hpp>

#include "chain/chain.h"
#include "chain/engine.h"
#include "chain/host_api.h"
#include "chain/request_views.h"
#include "config/config.h"
#include "cost/price_table.h"
#include "plugin/schema.h"
#include "support/in_test_plugins.h"

using namespace outrigger;
using outrigger::testing::typeFor;

namespace {

struct Settled {
  std::string target;
  outrigger_code code;
  bool reached;
  uint32_t prompt, completion;
  double cost;
  bool admission_readable;  // request_state gave back what admit kept, as the real limiters read it
};

struct Script {
  std::string first = "admit";   // admit | refuse | refuse_denied | pending_admit | pending_refuse | pending_forever
  std::string second = "";       // "" (no second limiter) | admit | refuse
  std::deque<outrigger_code> provider_codes;  // per attempt; OK when empty
  bool provider_hangs = false;  // the provider never answers (the request's end cuts it short)
  outrigger_status provider_returns = OUTRIGGER_PENDING;  // what start returns after answering
  std::string refusal = "monthly budget spent";  // the reason a refusal gives
  int provider_starts = 0;
  std::vector<Settled> first_settled, second_settled;
  int cancels = 0;
  uint64_t estimate_prompt = 0, estimate_max = 0;
  outrigger_limit_estimate estimate{};
  outrigger_request handle{};
  const outrigger_host_api* host = nullptr;
};
Script s;

class Budget final : public plugin::Instance {
 public:
  static constexpr outrigger_kind kKind = OUTRIGGER_KIND_LIMITER;
  static constexpr const char* kName = "budget";
  static constexpr const char* kDescription = "test limiter";
  static constexpr const char* kConfigSchema = "{}";
  Budget(plugin::Host h, std::string_view n, std::string_view) : Instance(h, n), first_(n == "first") {
    if (first_) s.host = h.api();
  }

  outrigger_status admit(const outrigger_request_view& r, const outrigger_limit_estimate& e, outrigger_limit_result& res) {
    s.handle = r.handle;
    const std::string& mode = first_ ? s.first : s.second;
    if (first_) {
      s.estimate_prompt = e.prompt_tokens;
      s.estimate_max = e.max_completion_tokens;
      s.estimate = e;
    }
    if (mode == "refuse" || mode == "refuse_denied") {
      res.code = mode == "refuse" ? OUTRIGGER_CODE_OK : OUTRIGGER_CODE_PERMISSION_DENIED;  // OK: the default
      res.retry_after_ms = 1500;
      res.reason = plugin::str(s.refusal);
      return OUTRIGGER_STOP;
    }
    if (mode == "pending_admit" || mode == "pending_refuse") {
      outrigger_request h = r.handle;
      bool ok = mode == "pending_admit";
      host().setTimer(h, 1, [this, h, ok](outrigger_status st) {
        if (st != OUTRIGGER_OK) return;
        const outrigger_host_api* api = host().api();
        api->limiter_done(api->host_ctx, h, ok ? OUTRIGGER_CODE_OK : OUTRIGGER_CODE_RESOURCE_EXHAUSTED, ok ? 0 : 250,
                          plugin::str(ok ? "" : "fleet limit reached"));
      });
      return OUTRIGGER_PENDING;
    }
    if (mode == "pending_forever") return OUTRIGGER_PENDING;
    if (mode == "return_42") return static_cast<outrigger_status>(42);  // a plugin's bug, not an admission
    host().setRequestState(r.handle, std::make_unique<int>(7));  // the admission, as limiter.budget keeps its reservation
    return OUTRIGGER_CONTINUE;
  }
  void settle(const outrigger_request_view& r, const outrigger_settlement& st) {
    const int* admission = static_cast<const int*>(host().requestState(r.handle));
    (first_ ? s.first_settled : s.second_settled)
        .push_back({std::string(plugin::view(st.target)), st.code, st.reached_upstream != 0, st.usage.prompt_tokens,
                    st.usage.completion_tokens, st.cost_usd, admission && *admission == 7});
  }
  void onCancel() { ++s.cancels; }

 private:
  bool first_;
};

// The limiter's C table, by hand: the C++ wrapper has no limiter base class.
const outrigger_limiter_hooks kBudgetHooks = {
    OUTRIGGER_HEADER_INIT(outrigger_limiter_hooks),
    [](void* i, const outrigger_request_view* r, const outrigger_limit_estimate* e, outrigger_limit_result* res) noexcept {
      return static_cast<Budget*>(static_cast<plugin::Instance*>(i))->admit(*r, *e, *res);
    },
    [](void* i, const outrigger_request_view* r, const outrigger_settlement* st) noexcept {
      static_cast<Budget*>(static_cast<plugin::Instance*>(i))->settle(*r, *st);
    },
    [](void* i, outrigger_request) noexcept { static_cast<Budget*>(static_cast<plugin::Instance*>(i))->onCancel(); },
};

const outrigger_plugin_type* budgetType() {
  static outrigger_plugin_type t = [] {
    outrigger_plugin_type out{};
    out.hdr = OUTRIGGER_HEADER_INIT(outrigger_plugin_type);
    out.kind = OUTRIGGER_KIND_LIMITER;
    out.name = plugin::str("budget");
    out.config_schema_json = plugin::str("{}");
    out.create = [](const outrigger_host_api* host, outrigger_str name, outrigger_str, void** inst,
                    outrigger_error*) noexcept -> outrigger_status {
      *inst = static_cast<plugin::Instance*>(new Budget(plugin::Host(host), plugin::view(name), ""));
      return OUTRIGGER_OK;
    };
    out.destroy = [](void* i) noexcept { delete static_cast<plugin::Instance*>(i); };
    out.hooks = &kBudgetHooks;
    return out;
  }();
  return &t;
}

class CountingProvider final : public plugin::Provider {
 public:
  static constexpr const char* kName = "counting";
  static constexpr const char* kDescription = "test provider";
  static constexpr const char* kConfigSchema = "{}";
  CountingProvider(plugin::Host h, std::string_view n, std::string_view) : Provider(h, n) {}
  outrigger_status start(const outrigger_request_view& r) override {
    ++s.provider_starts;
    s.handle = r.handle;
    if (s.provider_hangs) return OUTRIGGER_PENDING;
    outrigger_response_view resp = plugin::makeResponse();
    if (!s.provider_codes.empty()) {
      resp.code = s.provider_codes.front();
      s.provider_codes.pop_front();
      resp.retryable = resp.code != OUTRIGGER_CODE_OK;
    }
    resp.content = plugin::str("fine");
    resp.usage = {12, 3, 0, 0};
    resp.cost_usd = 0.5;
    host().providerDone(r.handle, resp);
    return s.provider_returns;
  }
  void cancel(outrigger_request) override {}
};

struct Outcome {
  Code code = Code::kUnknown;
  std::string message, origin;
  bool retryable = false;
  uint32_t retry_after_ms = 0;
  int ends = 0;
};

class Sink : public ResponseSink {
 public:
  void onStart(uint64_t, const ResponseStartInfo&) override {}
  Flow onChunk(uint64_t, const ResponseChunkInfo&) override { return Flow::kOk; }
  void onEnd(uint64_t, const ResponseEndInfo& e) override {
    out = {e.code, std::string(e.message), std::string(e.origin), e.retryable, e.retry_after_ms, out.ends + 1};
  }
  Outcome out;
};

struct Rig {
  event::EventLoop loop{49};
  chain::Engine engine{loop, {60000, 600000, 1000000}, nullptr};
  plugin::PluginType provider_type = typeFor(plugin::typeOf<CountingProvider>());
  plugin::PluginType budget_type = typeFor(budgetType());
  Sink sink;

  // `models`: the targets' models, each on its own instance of the counting provider (default:
  // one target, the caller's model); `prices`: the chain's price table.
  explicit Rig(bool second = false, uint32_t max_attempts = 1, std::vector<std::string> models = {},
               std::shared_ptr<const cost::PriceTable> prices = nullptr) {
    s = Script{};
    if (second) s.second = "admit";
    config::InstanceSettings ps{"counting", "provider", "counting", "{}", config::OnError::kDeny, "t:1", {}};
    auto chain = std::make_shared<chain::WorkerChain>();
    chain::Route r;
    r.name = "default";
    chain::Target t;
    t.stage = {plugin::PluginInstance::create(provider_type, ps, chain::hostApiTemplate()).value(), "provider/counting"};
    t.key = "counting/m";
    r.targets.push_back(t);
    for (size_t i = 1; i < models.size(); ++i) {
      config::InstanceSettings pi{"counting" + std::to_string(i), "provider", "counting", "{}", config::OnError::kDeny, "t:1", {}};
      r.targets.push_back({{plugin::PluginInstance::create(provider_type, pi, chain::hostApiTemplate()).value(), "provider/counting"},
                           models[i]});
    }
    if (!models.empty()) r.targets[0].model = models[0];
    chain->prices = std::move(prices);
    r.provider = t.stage;
    r.policy.retry.max_attempts = max_attempts;
    r.policy.retry.base_backoff_ms = 1;
    for (const char* name : {"first", "second"}) {
      if (std::string(name) == "second" && !second) break;
      config::InstanceSettings ls{name, "limiter", "budget", "{}", config::OnError::kDeny, "t:2", {}};
      r.limiters.push_back({plugin::PluginInstance::create(budget_type, ls, chain::hostApiTemplate()).value(),
                            std::string("limiter/") + name});
    }
    chain::layOutSteps(&chain->routes.emplace("default", std::move(r)).first->second);
    chain->default_route = "default";
    engine.setChain(chain);
  }
  ~Rig() { loop.runUntilForTest([] { return false; }, 5); }

  void start() {
    auto in = std::make_unique<chain::CallInput>();
    in->model = "default";
    in->messages.push_back({"user", "sixteen bytes ok", "", "", {}});
    in->max_tokens = 64;
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

TEST_CASE("a limiter admits with the request's estimate and settles the attempt with its usage and cost") {
  Rig rig;
  const Outcome& out = rig.run();
  REQUIRE(out.code == Code::kOk);
  CHECK(s.estimate_prompt == 11);  // ("user" + 16 bytes) / 4, plus 3 for the message and 3 for the reply
  CHECK(s.estimate_max == 64);
  REQUIRE(s.first_settled.size() == 1);
  CHECK(s.first_settled[0].target == "counting/m");
  CHECK(s.first_settled[0].code == OUTRIGGER_CODE_OK);
  CHECK(s.first_settled[0].reached);
  CHECK(s.first_settled[0].prompt == 12);
  CHECK(s.first_settled[0].completion == 3);
  CHECK(s.first_settled[0].cost == Approx(0.5));
  CHECK(s.first_settled[0].admission_readable);
}

TEST_CASE("a limiter's refusal ends the request before any provider, retryable with its retry time") {
  Rig rig;
  s.first = "refuse";
  const Outcome& out = rig.run();
  CHECK(out.code == Code::kResourceExhausted);
  CHECK(out.retryable);
  CHECK(out.retry_after_ms == 1500);
  CHECK(out.message == "monthly budget spent");
  CHECK(out.origin == "limiter/first");
  CHECK(s.provider_starts == 0);
  CHECK(s.first_settled.empty());  // a refused request is never settled
  CHECK(rig.engine.counters().limiter_refusals == 1);
}

TEST_CASE("an admit that returns a value no admit may return fails closed: the request never reaches a provider") {
  Rig rig;
  s.first = "return_42";
  const Outcome& out = rig.run();
  CHECK(out.code == Code::kInternal);
  CHECK(out.origin == "limiter/first");
  CHECK(out.message.find("returned 42") != std::string::npos);
  CHECK(s.provider_starts == 0);
  CHECK(s.first_settled.empty());
}

TEST_CASE("a limiter's reason that is not UTF-8 reaches the caller repaired, the refusal unchanged") {
  Rig rig;
  s.first = "refuse";
  s.refusal = "budget \xe9puis\xe9";  // Latin-1
  const Outcome& out = rig.run();
  CHECK(out.code == Code::kResourceExhausted);
  CHECK(out.retry_after_ms == 1500);
  CHECK(out.message == "budget \xef\xbf\xbdpuis\xef\xbf\xbd");
}

TEST_CASE("a limiter may refuse with its own code, which is not retryable") {
  Rig rig;
  s.first = "refuse_denied";
  const Outcome& out = rig.run();
  CHECK(out.code == Code::kPermissionDenied);
  CHECK_FALSE(out.retryable);
}

TEST_CASE("a pending admit goes on through limiter_done, or refuses through it") {
  {
    Rig rig;
    s.first = "pending_admit";
    CHECK(rig.run().code == Code::kOk);
    CHECK(s.provider_starts == 1);
    CHECK(s.first_settled.size() == 1);
  }
  {
    Rig rig;
    s.first = "pending_refuse";
    const Outcome& out = rig.run();
    CHECK(out.code == Code::kResourceExhausted);
    CHECK(out.retry_after_ms == 250);
    CHECK(out.message == "fleet limit reached");
    CHECK(s.provider_starts == 0);
  }
}

TEST_CASE("a request cancelled during a pending admit reaches on_cancel and settles nothing") {
  Rig rig;
  s.first = "pending_forever";
  rig.start();
  rig.loop.runUntilForTest([&] {
    rig.engine.cancel(s.handle, Code::kCancelled, "caller went away");
    return true;
  }, 10);
  CHECK(rig.sink.out.ends == 1);
  CHECK(s.cancels == 1);
  CHECK(s.first_settled.empty());
}

TEST_CASE("every attempt is settled, a failed retry included") {
  Rig rig(false, /*max_attempts=*/2);
  s.provider_codes = {OUTRIGGER_CODE_UNAVAILABLE};
  const Outcome& out = rig.run();
  REQUIRE(out.code == Code::kOk);
  REQUIRE(s.first_settled.size() == 2);
  CHECK(s.first_settled[0].code == OUTRIGGER_CODE_UNAVAILABLE);
  CHECK(s.first_settled[1].code == OUTRIGGER_CODE_OK);
}

TEST_CASE("a provider that answers inside start and then returns other than PENDING: each attempt is settled once, the answer stands") {
  for (outrigger_status returned : {OUTRIGGER_CONTINUE, OUTRIGGER_E_INVALID}) {
    CAPTURE(returned);
    {
      Rig rig;
      s.provider_returns = returned;
      const Outcome& out = rig.run();
      CHECK(out.code == Code::kOk);
      CHECK(out.ends == 1);
      REQUIRE(s.first_settled.size() == 1);
      CHECK(s.first_settled[0].code == OUTRIGGER_CODE_OK);
      CHECK(s.first_settled[0].completion == 3);
    }
    {
      Rig rig(false, /*max_attempts=*/2);
      s.provider_returns = returned;
      s.provider_codes = {OUTRIGGER_CODE_UNAVAILABLE};
      const Outcome& out = rig.run();
      CHECK(out.code == Code::kOk);  // the retry the failure scheduled answered
      CHECK(s.provider_starts == 2);
      REQUIRE(s.first_settled.size() == 2);
      CHECK(s.first_settled[0].code == OUTRIGGER_CODE_UNAVAILABLE);
      CHECK(s.first_settled[1].code == OUTRIGGER_CODE_OK);
    }
  }
}

TEST_CASE("an attempt cut short by a cancel is settled once, CANCELLED, with its target and as having reached it") {
  Rig rig;
  s.provider_hangs = true;
  rig.start();
  REQUIRE(s.provider_starts == 1);
  rig.loop.runUntilForTest([&] {
    rig.engine.cancel(s.handle, Code::kCancelled, "caller went away");
    return true;
  }, 10);
  CHECK(rig.sink.out.ends == 1);
  REQUIRE(s.first_settled.size() == 1);
  CHECK(s.first_settled[0].code == OUTRIGGER_CODE_CANCELLED);
  CHECK(s.first_settled[0].target == "counting/m");
  CHECK(s.first_settled[0].reached);
  // The end settles after the request is marked ended: the admission must still be readable, or
  // a limiter refunds (limiter.memory) or charges nothing (limiter.budget) for the attempt.
  CHECK(s.first_settled[0].admission_readable);
}

TEST_CASE("a limiter after one that refused never runs, and the one that admitted settles once, empty") {
  Rig rig(/*second=*/true);
  s.second = "refuse";
  const Outcome& out = rig.run();
  CHECK(out.code == Code::kResourceExhausted);
  CHECK(out.origin == "limiter/second");
  REQUIRE(s.first_settled.size() == 1);
  CHECK(s.first_settled[0].target.empty());
  CHECK_FALSE(s.first_settled[0].reached);
  CHECK(s.first_settled[0].prompt == 0);
  CHECK(s.second_settled.empty());
}

TEST_CASE("a route names limiters in config, and a non-limiter instance there is refused") {
  auto ok = config::parseConfig(
      "[instances.mock]\ntype = \"provider.mock\"\n[instances.budget]\ntype = \"limiter.budget\"\n"
      "[routes.default]\nprovider = \"mock\"\nlimiters = [\"budget\"]\n",
      "limiters.toml", ".");
  REQUIRE(ok.ok());
  CHECK(ok.value().routes[0].limiters == std::vector<std::string>{"budget"});
  auto bad = config::parseConfig(
      "[instances.mock]\ntype = \"provider.mock\"\n[routes.default]\nprovider = \"mock\"\nlimiters = [\"mock\"]\n",
      "limiters.toml", ".");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("limiter") != std::string::npos);
  // Tenant limits are the default limiter, stacked in front of the route's own.
  auto stacked = config::parseConfig(
      "[instances.mock]\ntype = \"provider.mock\"\n[instances.budget]\ntype = \"limiter.budget\"\n"
      "[routes.default]\nprovider = \"mock\"\nlimiters = [\"budget\"]\ntenant_rpm = 5\n",
      "limiters.toml", ".");
  REQUIRE(stacked.ok());
  CHECK(stacked.value().routes[0].limiters == std::vector<std::string>{"default.tenant_limits", "budget"});
  auto taken = config::parseConfig(
      "[instances.mock]\ntype = \"provider.mock\"\n[instances.\"default.tenant_limits\"]\ntype = \"limiter.budget\"\n"
      "[routes.default]\nprovider = \"mock\"\ntenant_rpm = 5\n",
      "limiters.toml", ".");
  REQUIRE_FALSE(taken.ok());
  CHECK(taken.status().message().find("limiters.toml:3") != std::string::npos);
  CHECK(taken.status().message().find("is taken") != std::string::npos);
}

TEST_CASE("limiter_done from another thread is refused, and one after the end is stale") {
  Rig rig;
  s.first = "pending_forever";
  rig.start();
  const outrigger_host_api* api = s.host;
  outrigger_request h = s.handle;
  outrigger_status from_thread = OUTRIGGER_OK;
  std::thread([&] { from_thread = api->limiter_done(api->host_ctx, h, OUTRIGGER_CODE_OK, 0, {nullptr, 0}); }).join();
  CHECK(from_thread == OUTRIGGER_E_WRONG_THREAD);
  outrigger_status first = OUTRIGGER_E_INTERNAL, late = OUTRIGGER_E_INTERNAL;
  rig.loop.runUntilForTest([&] {
    first = api->limiter_done(api->host_ctx, h, OUTRIGGER_CODE_OK, 0, {nullptr, 0});
    return true;
  }, 10);
  CHECK(first == OUTRIGGER_OK);
  REQUIRE(rig.loop.runUntilForTest([&] { return rig.sink.out.ends > 0; }, 1000));
  rig.loop.runUntilForTest([&] {
    late = api->limiter_done(api->host_ctx, h, OUTRIGGER_CODE_OK, 0, {nullptr, 0});
    return true;
  }, 10);
  CHECK(late == OUTRIGGER_E_STALE);
}

TEST_CASE("admit is told the worst case over the route's targets, priced from the chain's table") {
  auto prices = std::make_shared<cost::PriceTable>();
  cost::ModelPrice cheap{"counting", "m", 1e-6, 2e-6};
  cheap.max_output = 1000;
  cost::ModelPrice dear{"counting", "m2", 3e-6, 1e-6};  // dearer prompt, dearer reasoning
  dear.reasoning = 4e-6;
  dear.max_output = 500;
  prices->add(cheap);
  prices->add(dear);
  {
    Rig rig(false, 1, {"m", "m2"}, prices);
    REQUIRE(rig.run().code == Code::kOk);
    const outrigger_limit_estimate& e = s.estimate;
    REQUIRE(e.hdr.struct_size >= OUTRIGGER_SIZE_THROUGH(outrigger_limit_estimate, unpriced));
    CHECK(e.prompt_tokens == 11);
    CHECK(e.prompt_cost_usd == Approx(11 * 3e-6));
    CHECK(e.output_price_usd == Approx(4e-6));
    CHECK(e.max_output_tokens == 1000);
    CHECK(e.max_cost_usd == Approx(11 * 3e-6 + 64 * 4e-6));  // the caller's max_tokens caps the answer
    CHECK(e.unpriced == 0);
  }
  {
    Rig rig(false, 1, {"m", "unknown-model"}, prices);
    REQUIRE(rig.run().code == Code::kOk);
    CHECK(s.estimate.unpriced == 1);
    CHECK(s.estimate.prompt_cost_usd == Approx(11 * 1e-6));  // the priced target's
  }
}

// What a limiter reserves for a model whose encoding is unknown: every text the provider is sent.
// Twenty tool definitions of 400 bytes each were left out, and a request carrying them reserved
// the tokens of "hi" alone.
TEST_CASE("the prompt estimate counts tool definitions, names and roles, and the chat format's overhead") {
  outrigger_message_view hi{{"user", 4}, {"hi", 2}, {}, {}, nullptr, 0};
  outrigger_params_view params{};
  outrigger_request_view view{};
  view.messages = &hi;
  view.message_count = 1;
  view.params = &params;
  const uint64_t bare = chain::promptTokenEstimate(view);
  CHECK(bare == (4 + 2 + 3) / 4 + 3 + 3);
  std::string description(400, 'd');
  std::vector<outrigger_tool_view> tools(20, outrigger_tool_view{{"function", 8}, {"lookup", 6}, {description.data(), 400}, {"{}", 2}});
  params.tools = tools.data();
  params.tool_count = tools.size();
  CHECK(chain::promptTokenEstimate(view) == (4 + 2 + 20 * (6 + 400 + 2) + 3) / 4 + 3 + 3);
}
