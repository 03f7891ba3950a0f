// ABI 1.2 guardrails that change things, on a real loop: a REWRITE of the request (seen by the
// provider, later steps and the verdicts), a REWRITE of the answer, per-request plugin state
// (reversible redaction, released once after the end), decisions given later through
// guardrail_decided, and re-asks bounded by the route's max_reasks.
#include <catch2/catch.hpp>

#include <deque>
#include <map>
#include <thread>

#include <outrigger/plugin.hpp>

#include "chain/chain.h"
#include "chain/engine.h"
#include "chain/host_api.h"
#include "plugin/schema.h"
#include "support/in_test_plugins.h"

using namespace outrigger;
using outrigger::testing::typeFor;

namespace {

// What the plugins do and saw; reset by each test.
struct Script {
  std::string request_mode = "pass";   // pass | redact | redact_later | rewrite_no_action | small_action | odd_role
  std::string response_mode = "pass";  // pass | restore | shout | json_or_reask
  std::string second_response_mode = "pass";  // the route's second guardrail, "second", when it has one
  std::string chunk_mode = "pass";     // pass | deny_secret | later (on_chunk decides after 1 ms)
  std::deque<std::string> answers;     // the provider's answers in order; echo when empty
  std::map<std::string, std::string> cached;  // the route's cache, when it has one: conversation -> answer
  bool stream_answer = false;          // the provider sends its answer as two chunks
  bool provider_hangs = false;
  std::vector<std::string> provider_saw;  // each start: "role:content|role:content..."
  int releases = 0;
  const int* ends = nullptr;  // the sink's end count
  int ends_at_release = -1;   // what it was when the state was released
  const outrigger_host_api* guard_host = nullptr;
  outrigger_request last_handle{};
};
Script s;

std::string joined(const outrigger_request_view& r) {
  std::string out;
  for (size_t i = 0; i < r.message_count; ++i) {
    if (i) out += "|";
    out += std::string(plugin::view(r.messages[i].role)) + ":" + std::string(plugin::view(r.messages[i].content));
  }
  return out;
}

class ScriptedProvider final : public plugin::Provider {
 public:
  static constexpr const char* kName = "scripted";
  static constexpr const char* kDescription = "test provider";
  static constexpr const char* kConfigSchema = "{}";
  ScriptedProvider(plugin::Host h, std::string_view n, std::string_view) : Provider(h, n) {}

  outrigger_status start(const outrigger_request_view& r) override {
    s.provider_saw.push_back(joined(r));
    if (s.provider_hangs) return OUTRIGGER_PENDING;
    std::string answer = std::string(plugin::view(r.messages[r.message_count - 1].content));
    if (!s.answers.empty()) {
      answer = s.answers.front();
      s.answers.pop_front();
    }
    if (s.stream_answer) {
      size_t half = answer.size() / 2;
      host().providerChunk(r.handle, plugin::makeChunk(std::string_view(answer).substr(0, half)));
      host().providerChunk(r.handle, plugin::makeChunk(std::string_view(answer).substr(half)));
      answer.clear();
    }
    outrigger_response_view resp = plugin::makeResponse();
    resp.content = plugin::str(answer);
    resp.usage = {10, 5, 0, 0};
    host().providerDone(r.handle, resp);
    return OUTRIGGER_PENDING;
  }
  void cancel(outrigger_request) override {}
};

// A cache keyed by the whole conversation, as the exact caches are; its hits report usage, as a
// stored answer carries its provider's.
class MapCache final : public plugin::Cache {
 public:
  static constexpr const char* kName = "mapcache";
  static constexpr const char* kDescription = "test cache";
  static constexpr const char* kConfigSchema = "{}";
  MapCache(plugin::Host h, std::string_view n, std::string_view) : Cache(h, n) {}

  outrigger_status lookup(const outrigger_request_view& r) override {
    auto it = s.cached.find(joined(r));
    if (it == s.cached.end()) return OUTRIGGER_CONTINUE;
    outrigger_response_view hit = plugin::makeResponse();
    hit.content = plugin::str(it->second);
    hit.finish_reason = plugin::str("stop");
    hit.usage = {10, 5, 10, 0};
    host().cacheDone(r.handle, &hit);
    return OUTRIGGER_PENDING;
  }
  void store(const outrigger_request_view& r, const outrigger_response_view& resp) override {
    s.cached[joined(r)] = std::string(plugin::view(resp.content));
  }
};

// Reversible redaction: "secret" becomes "[P1]" on the way in; the placeholder map is kept as
// request state and "[P1]" is put back on the way out.
struct Placeholders {
  std::map<std::string, std::string> originals;
};

class ActingGuard final : public plugin::Guardrail {
 public:
  static constexpr const char* kName = "acting";
  static constexpr const char* kDescription = "test guardrail";
  static constexpr const char* kConfigSchema = "{}";
  ActingGuard(plugin::Host h, std::string_view n, std::string_view) : Guardrail(h, n) { s.guard_host = h.api(); }

  outrigger_status onRequest(const outrigger_request_view& r, outrigger_guardrail_result& res) override {
    if (name() == "second") return OUTRIGGER_CONTINUE;
    s.last_handle = r.handle;
    if (s.request_mode == "pass") return OUTRIGGER_CONTINUE;
    if (s.request_mode == "rewrite_no_action") {
      res.verdict = OUTRIGGER_VERDICT_REWRITE;
      return OUTRIGGER_CONTINUE;
    }
    if (s.request_mode == "redact_later") {
      outrigger_request handle = r.handle;
      // The copy the plugin keeps: the request's views stay valid, but it decides from its own.
      std::string text = redact(r, handle);
      host().setTimer(handle, 1, [this, handle, text](outrigger_status st) {
        if (st != OUTRIGGER_OK) return;
        decideLater(handle, text);
      });
      return OUTRIGGER_PENDING;
    }
    rewritten_ = redact(r, r.handle);
    message_ = {plugin::str(s.request_mode == "odd_role" ? "banana" : "user"), plugin::str(rewritten_), {}, {}, nullptr, 0};
    action_ = {};
    action_.hdr = OUTRIGGER_HEADER_INIT(outrigger_guardrail_action);
    if (s.request_mode == "small_action") action_.hdr.struct_size = 8;
    action_.messages = &message_;
    action_.message_count = 1;
    res.verdict = OUTRIGGER_VERDICT_REWRITE;
    res.reason = plugin::str("redacted 1 secret");
    res.action = &action_;
    return OUTRIGGER_CONTINUE;
  }

  outrigger_status onChunk(const outrigger_request_view& r, const outrigger_chunk_view& c,
                           outrigger_guardrail_result& res) override {
    if (name() == "second" || s.chunk_mode == "pass") return OUTRIGGER_CONTINUE;
    if (s.chunk_mode == "later") {
      outrigger_request handle = r.handle;
      host().setTimer(handle, 1, [this, handle](outrigger_status st) {
        if (st == OUTRIGGER_OK) host().guardrailDecided(handle, OUTRIGGER_CONTINUE, OUTRIGGER_VERDICT_PASS, "", nullptr);
      });
      return OUTRIGGER_PENDING;
    }
    if (plugin::view(c.delta).find("secret") == std::string_view::npos) return OUTRIGGER_CONTINUE;
    res.verdict = OUTRIGGER_VERDICT_DENY;
    res.reason = plugin::str("a secret in the answer");
    return OUTRIGGER_STOP;
  }

  outrigger_status onResponse(const outrigger_request_view& r, const outrigger_response_view& resp,
                              outrigger_guardrail_result& res) override {
    std::string content(plugin::view(resp.content));
    action_ = {};
    action_.hdr = OUTRIGGER_HEADER_INIT(outrigger_guardrail_action);
    const std::string& mode = name() == "second" ? s.second_response_mode : s.response_mode;
    if (mode == "restore") {
      auto* map = static_cast<Placeholders*>(host().requestState(r.handle));
      if (!map) return OUTRIGGER_CONTINUE;
      for (const auto& [placeholder, original] : map->originals) {
        for (size_t at; (at = content.find(placeholder)) != std::string::npos;) content.replace(at, placeholder.size(), original);
      }
      action_.restores_caller_values = 1;
    } else if (mode == "shout") {
      for (char& c : content) c = char(std::toupper(static_cast<unsigned char>(c)));
    } else if (mode == "latin1") {
      content += " caf\xe9";  // a rewrite that is not UTF-8
    } else if (mode == "json_or_reask") {
      if (!content.empty() && content[0] == '{') return OUTRIGGER_CONTINUE;
      message_ = {plugin::str("user"), plugin::str("Answer with a JSON object only."), {}, {}, nullptr, 0};
      action_.messages = &message_;
      action_.message_count = 1;
      action_.reask = 1;
      res.reason = plugin::str("answer is not JSON");
      res.action = &action_;
      return OUTRIGGER_CONTINUE;
    } else {
      return OUTRIGGER_CONTINUE;
    }
    rewritten_ = content;
    action_.content = plugin::str(rewritten_);
    action_.replace_content = 1;
    res.verdict = OUTRIGGER_VERDICT_REWRITE;
    res.action = &action_;
    return OUTRIGGER_CONTINUE;
  }

 private:
  // "secret" -> "[P1]", remembering the original in the request's state.
  std::string redact(const outrigger_request_view& r, outrigger_request handle) {
    std::string text(plugin::view(r.messages[r.message_count - 1].content));
    size_t at = text.find("secret");
    if (at == std::string::npos) return text;
    auto map = std::make_unique<Placeholders>();
    map->originals["[P1]"] = "secret";
    host().setRequestState(handle, map.release(), [](void* p) {
      s.releases++;
      s.ends_at_release = s.ends ? *s.ends : -1;
      delete static_cast<Placeholders*>(p);
    });
    return text.replace(at, 6, "[P1]");
  }
  void decideLater(outrigger_request handle, const std::string& text) {
    outrigger_message_view m{plugin::str("user"), plugin::str(text), {}, {}, nullptr, 0};
    outrigger_guardrail_action a{};
    a.hdr = OUTRIGGER_HEADER_INIT(outrigger_guardrail_action);
    a.messages = &m;
    a.message_count = 1;
    host().guardrailDecided(handle, OUTRIGGER_CONTINUE, OUTRIGGER_VERDICT_REWRITE, "redacted later", &a);
  }

  std::string rewritten_;
  outrigger_message_view message_{};
  outrigger_guardrail_action action_{};
};

struct Outcome {
  Code code = Code::kUnknown;
  std::string content, message;
  std::vector<std::string> chunks;
  std::vector<Verdict> verdicts;
  Usage usage;
  bool cache_hit = false;
  int ends = 0;
};

class Sink : public ResponseSink {
 public:
  void onStart(uint64_t, const ResponseStartInfo&) override {}
  Flow onChunk(uint64_t, const ResponseChunkInfo& c) override {
    out.chunks.emplace_back(c.delta);
    return Flow::kOk;
  }
  void onEnd(uint64_t, const ResponseEndInfo& e) override {
    out.code = e.code;
    out.content = std::string(e.content);
    out.message = std::string(e.message);
    out.verdicts = e.verdicts ? *e.verdicts : std::vector<Verdict>{};
    out.usage = e.usage;
    out.cache_hit = e.cache_hit;
    ++out.ends;
  }
  Outcome out;
};

// A route [acting guard] -> scripted provider on one engine the test drives.
struct Rig {
  event::EventLoop loop{47};
  chain::Engine engine{loop, {60000, 600000, 1000000}, nullptr};
  plugin::PluginType provider_type = typeFor(plugin::typeOf<ScriptedProvider>());
  plugin::PluginType guard_type = typeFor(plugin::typeOf<ActingGuard>());
  plugin::PluginType cache_type = typeFor(plugin::typeOf<MapCache>());
  Sink sink;

  // `second_guardrail`: a second instance, "second", after the first (its response hook follows
  // s.second_response_mode). `cached`: the route has a MapCache.
  explicit Rig(uint32_t max_reasks = 1, bool second_guardrail = false, bool cached = false) {
    s = Script{};
    s.ends = &sink.out.ends;
    config::InstanceSettings ps{"scripted", "provider", "scripted", "{}", config::OnError::kDeny, "t:1", {}};
    config::InstanceSettings gs{"acting", "guardrail", "acting", "{}", config::OnError::kDeny, "t:2", {}};
    auto chain = std::make_shared<chain::WorkerChain>();
    chain::Route r;
    r.name = "default";
    r.provider = {plugin::PluginInstance::create(provider_type, ps, chain::hostApiTemplate()).value(), "provider/scripted"};
    r.guardrails.push_back({plugin::PluginInstance::create(guard_type, gs, chain::hostApiTemplate()).value(), "guardrail/acting"});
    if (second_guardrail) {
      config::InstanceSettings second{"second", "guardrail", "acting", "{}", config::OnError::kDeny, "t:3", {}};
      r.guardrails.push_back(
          {plugin::PluginInstance::create(guard_type, second, chain::hostApiTemplate()).value(), "guardrail/second"});
    }
    if (cached) {
      config::InstanceSettings cs{"mapcache", "cache", "mapcache", "{}", config::OnError::kDeny, "t:4", {}};
      r.cache.push_back({plugin::PluginInstance::create(cache_type, cs, chain::hostApiTemplate()).value(), "cache/mapcache"});
    }
    r.max_reasks = max_reasks;
    chain::layOutSteps(&chain->routes.emplace("default", std::move(r)).first->second);
    chain->default_route = "default";
    engine.setChain(chain);
  }
  ~Rig() { loop.runUntilForTest([] { return false; }, 5); }

  const Outcome& ask(const std::string& text, bool stream = false) {
    sink.out = {};
    auto in = std::make_unique<chain::CallInput>();
    in->model = "default";
    in->messages.push_back({"user", text, "", "", {}});
    in->stream = stream;
    loop.runUntilForTest([&] {
      engine.start(std::move(in), &sink, 1);
      return true;
    }, 10);
    loop.runUntilForTest([&] { return sink.out.ends > 0; }, 2000);
    return sink.out;
  }
  const Verdict* verdict() const { return sink.out.verdicts.empty() ? nullptr : &sink.out.verdicts[0]; }
};

}  // namespace

TEST_CASE("a request REWRITE reaches the provider and is recorded as the guardrail's verdict") {
  Rig rig;
  s.request_mode = "redact";
  const Outcome& out = rig.ask("my secret is 42");
  REQUIRE(out.code == Code::kOk);
  REQUIRE(s.provider_saw.size() == 1);
  CHECK(s.provider_saw[0] == "user:my [P1] is 42");
  CHECK(out.content == "my [P1] is 42");  // no restore on the way out in this mode
  REQUIRE(rig.verdict());
  CHECK(rig.verdict()->kind == VerdictKind::kRewrite);
  CHECK(rig.verdict()->reason == "redacted 1 secret");
  CHECK(rig.engine.counters().rewrites == 1);
}

TEST_CASE("reversible redaction: request state carries the placeholders to the answer and is released once, after the end") {
  Rig rig;
  s.request_mode = "redact";
  s.response_mode = "restore";
  const Outcome& out = rig.ask("my secret is 42");
  REQUIRE(out.code == Code::kOk);
  CHECK(s.provider_saw[0] == "user:my [P1] is 42");  // the upstream never saw it
  CHECK(out.content == "my secret is 42");           // the caller gets it back
  CHECK(s.releases == 1);
  CHECK(s.ends_at_release == 1);  // the end went out first
  CHECK(rig.engine.counters().rewrites == 2);
}

TEST_CASE("a pending guardrail decides a REWRITE later, and a second decision for the same hook is refused") {
  Rig rig;
  s.request_mode = "redact_later";
  s.provider_hangs = true;
  auto in = std::make_unique<chain::CallInput>();
  in->model = "default";
  in->messages.push_back({"user", "the secret", "", "", {}});
  rig.loop.runUntilForTest([&] {
    rig.engine.start(std::move(in), &rig.sink, 1);
    return true;
  }, 10);
  REQUIRE(rig.loop.runUntilForTest([] { return !s.provider_saw.empty(); }, 2000));
  CHECK(s.provider_saw[0] == "user:the [P1]");
  // The hook was decided already: the host now waits on the provider.
  const outrigger_host_api* gh = s.guard_host;
  outrigger_request handle = s.last_handle;
  outrigger_status again = OUTRIGGER_OK;
  rig.loop.runUntilForTest([&] {
    again = gh->guardrail_decided(gh->host_ctx, handle, OUTRIGGER_CONTINUE, OUTRIGGER_VERDICT_PASS, {nullptr, 0}, nullptr);
    return true;
  }, 10);
  CHECK(again == OUTRIGGER_E_INVALID);
  rig.loop.runUntilForTest([&] {
    rig.engine.cancel(handle, Code::kCancelled, "test over");
    return true;
  }, 10);
  CHECK(rig.sink.out.ends == 1);
  CHECK(s.releases == 1);  // state set by a request that was cancelled is released too
}

TEST_CASE("a response REWRITE replaces the answer the caller gets") {
  Rig rig;
  s.response_mode = "shout";
  const Outcome& out = rig.ask("quiet please");
  REQUIRE(out.code == Code::kOk);
  CHECK(out.content == "QUIET PLEASE");
  REQUIRE(rig.verdict());
  CHECK(rig.verdict()->kind == VerdictKind::kRewrite);
}

TEST_CASE("a response REWRITE whose text is not UTF-8 fails the guardrail instead of reaching the caller") {
  Rig rig;
  s.response_mode = "latin1";
  const Outcome& out = rig.ask("quiet please");
  CHECK(out.code == Code::kInternal);  // the guardrail's on_error is deny
  CHECK(out.content.find('\xe9') == std::string::npos);
  REQUIRE(rig.verdict());
  CHECK(rig.verdict()->kind == VerdictKind::kError);
}

TEST_CASE("a re-ask calls the provider again with the answer and the repair prompt, usage summed") {
  Rig rig;
  s.response_mode = "json_or_reask";
  s.answers = {"sure, here it is", "{\"ok\":true}"};
  const Outcome& out = rig.ask("give me json");
  REQUIRE(out.code == Code::kOk);
  CHECK(out.content == "{\"ok\":true}");
  REQUIRE(s.provider_saw.size() == 2);
  CHECK(s.provider_saw[1] == "user:give me json|assistant:sure, here it is|user:Answer with a JSON object only.");
  CHECK(out.usage.prompt_tokens == 20);
  CHECK(out.usage.completion_tokens == 10);
  CHECK(rig.engine.counters().reasks == 1);
  REQUIRE(rig.verdict());
  CHECK(rig.verdict()->kind == VerdictKind::kFlag);
}

TEST_CASE("a re-ask of a cache hit is no hit: the provider's usage alone, and its answer replaces the rejected one") {
  Rig rig(1, false, /*cached=*/true);
  s.answers = {"sure, here it is"};
  REQUIRE(rig.ask("give me json").code == Code::kOk);  // stored while the guardrail lets it pass
  REQUIRE(s.cached.count("user:give me json"));
  s.response_mode = "json_or_reask";
  s.answers = {"{\"ok\":true}"};
  const Outcome& out = rig.ask("give me json");
  REQUIRE(out.code == Code::kOk);
  CHECK(out.content == "{\"ok\":true}");
  CHECK_FALSE(out.cache_hit);  // the provider answered
  REQUIRE(s.provider_saw.size() == 2);
  CHECK(s.provider_saw[1] == "user:give me json|assistant:sure, here it is|user:Answer with a JSON object only.");
  CHECK(out.usage.prompt_tokens == 10);  // the hit used none
  CHECK(out.usage.completion_tokens == 5);
  // Stored under the question asked, not the re-ask's conversation: the next caller gets the
  // accepted answer from the cache, and nothing is re-asked.
  CHECK(s.cached.size() == 1);
  CHECK(s.cached["user:give me json"] == "{\"ok\":true}");
  const Outcome& third = rig.ask("give me json");
  CHECK(third.code == Code::kOk);
  CHECK(third.cache_hit);
  CHECK(third.content == "{\"ok\":true}");
  CHECK(s.provider_saw.size() == 2);
  CHECK(rig.engine.counters().reasks == 1);
}

TEST_CASE("a streamed cache hit goes through the chunk guardrails, as a provider's whole answer does") {
  Rig rig(1, false, /*cached=*/true);
  REQUIRE(rig.ask("my secret is 42").code == Code::kOk);  // unary: no chunk guardrail saw it
  REQUIRE(s.cached.count("user:my secret is 42"));
  s.chunk_mode = "deny_secret";
  const Outcome& out = rig.ask("my secret is 42", /*stream=*/true);
  CHECK(out.code == Code::kPermissionDenied);
  for (const std::string& c : out.chunks) CHECK(c.find("secret") == std::string::npos);
  CHECK(out.ends == 1);
  CHECK(s.provider_saw.size() == 1);

  // A chunk guardrail that decides later: the hit waits for it, then streams and ends once.
  s.chunk_mode = "later";
  const Outcome& later = rig.ask("my secret is 42", /*stream=*/true);
  CHECK(later.code == Code::kOk);
  CHECK(later.cache_hit);
  std::string joined;
  for (const std::string& c : later.chunks) joined += c;
  CHECK(joined == "my secret is 42");
  CHECK(later.ends == 1);
  CHECK(s.provider_saw.size() == 1);
}

TEST_CASE("a re-ask of an empty answer leaves out the empty assistant turn") {
  Rig rig;
  s.response_mode = "json_or_reask";
  s.answers = {"", "{\"ok\":true}"};
  const Outcome& out = rig.ask("give me json");
  REQUIRE(out.code == Code::kOk);
  REQUIRE(s.provider_saw.size() == 2);
  CHECK(s.provider_saw[1] == "user:give me json|user:Answer with a JSON object only.");
}

TEST_CASE("a re-ask of an answer holding values restored for the caller is denied: the provider never sees them") {
  Rig rig(1, /*second_guardrail=*/true);
  s.request_mode = "redact";
  s.response_mode = "restore";
  s.second_response_mode = "json_or_reask";
  s.answers = {"not json, but [P1]"};
  const Outcome& out = rig.ask("my secret is 42");
  CHECK(out.code == Code::kPermissionDenied);
  CHECK(out.message.find("re-ask refused: the answer holds values restored for the caller") == 0);
  REQUIRE(s.provider_saw.size() == 1);
  CHECK(s.provider_saw[0].find("secret") == std::string::npos);
}

TEST_CASE("re-asks stop at the route's max_reasks: the answer is then denied") {
  Rig rig(2);
  s.response_mode = "json_or_reask";
  s.answers = {"no", "still no", "never"};
  const Outcome& out = rig.ask("give me json");
  CHECK(out.code == Code::kPermissionDenied);
  CHECK(out.message == "answer is not JSON (after 2 re-asks)");
  CHECK(s.provider_saw.size() == 3);
  CHECK(rig.engine.counters().reasks == 2);
  REQUIRE(rig.verdict());
  CHECK(rig.verdict()->kind == VerdictKind::kDeny);
}

TEST_CASE("max_reasks = 0 turns a re-ask into a deny without another attempt") {
  Rig rig(0);
  s.response_mode = "json_or_reask";
  s.answers = {"no"};
  const Outcome& out = rig.ask("give me json");
  CHECK(out.code == Code::kPermissionDenied);
  CHECK(s.provider_saw.size() == 1);
}

TEST_CASE("a re-ask after the answer was streamed is a deny: chunks cannot be taken back") {
  Rig rig;
  s.response_mode = "json_or_reask";
  s.stream_answer = true;
  s.answers = {"plain words"};
  const Outcome& out = rig.ask("give me json", /*stream=*/true);
  CHECK(out.code == Code::kPermissionDenied);
  CHECK(out.message.find("re-ask after the answer was streamed") == 0);
  CHECK(s.provider_saw.size() == 1);
}

TEST_CASE("a REWRITE without an action, or with one smaller than its 1.2 layout, fails the stage") {
  for (const char* mode : {"rewrite_no_action", "small_action"}) {
    Rig rig;
    s.request_mode = mode;
    const Outcome& out = rig.ask("my secret");
    CHECK(out.code == Code::kInternal);
    CHECK(s.provider_saw.empty());
    REQUIRE(rig.verdict());
    CHECK(rig.verdict()->kind == VerdictKind::kError);
  }
}

// A provider reads a role it does not know as "user", so the message would reach the model with a
// meaning nobody gave it; a caller's request with that role is refused at both fronts.
TEST_CASE("a REWRITE whose message has a role the fronts would refuse fails the stage, and the provider is not called") {
  Rig rig;
  s.request_mode = "odd_role";
  const Outcome& out = rig.ask("my secret");
  CHECK(out.code == Code::kInternal);
  CHECK(s.provider_saw.empty());
  REQUIRE(rig.verdict());
  CHECK(rig.verdict()->kind == VerdictKind::kError);
}

TEST_CASE("guardrail_decided and request state from another thread are refused, and the request is not touched") {
  Rig rig;
  s.request_mode = "redact_later";
  s.provider_hangs = true;
  auto in = std::make_unique<chain::CallInput>();
  in->model = "default";
  in->messages.push_back({"user", "nothing secret", "", "", {}});
  rig.loop.runUntilForTest([&] {
    rig.engine.start(std::move(in), &rig.sink, 1);
    return true;
  }, 10);
  const outrigger_host_api* gh = s.guard_host;
  outrigger_request handle = s.last_handle;
  outrigger_status decided = OUTRIGGER_OK, state = OUTRIGGER_OK;
  void* read = &decided;
  std::thread([&] {
    decided = gh->guardrail_decided(gh->host_ctx, handle, OUTRIGGER_CONTINUE, OUTRIGGER_VERDICT_PASS, {nullptr, 0}, nullptr);
    state = gh->set_request_state(gh->host_ctx, handle, &decided, nullptr);
    read = gh->request_state(gh->host_ctx, handle);
  }).join();
  CHECK(decided == OUTRIGGER_E_WRONG_THREAD);
  CHECK(state == OUTRIGGER_E_WRONG_THREAD);
  CHECK(read == nullptr);
  // The plugin's own decision (on its timer, on the loop) still goes through.
  REQUIRE(rig.loop.runUntilForTest([] { return !s.provider_saw.empty(); }, 2000));
  rig.loop.runUntilForTest([&] {
    rig.engine.cancel(handle, Code::kCancelled, "test over");
    return true;
  }, 10);
  CHECK(rig.sink.out.ends == 1);
}
