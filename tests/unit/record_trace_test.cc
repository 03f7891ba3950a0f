// What a finished request's record carries for tracing, cost and evals, as an exporter plugin
// reads it through the C view on the real exporter thread: span ids and parents (the root a
// child of the caller's traceparent), wall-clock starts, a provider attempt's attributes after a
// retry, a guardrail's verdict and a cache's hit, and the prompt and answer as the route's
// `capture` allows.
#include <catch2/catch.hpp>

#include <deque>
#include <map>
#include <set>

#include <outrigger/plugin.hpp>

#include "chain/chain.h"
#include "chain/engine.h"
#include "chain/host_api.h"
#include "common/clock.h"
#include "plugin/schema.h"
#include "support/in_test_plugins.h"
#include "telemetry/exporter_thread.h"

using namespace outrigger;
using outrigger::testing::typeFor;

namespace {

constexpr char kTraceparent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

// ------------------------------------------------------------------ what the exporter saw

struct SeenSpan {
  std::string stage, instance, outcome, span_id, parent_span_id;
  uint64_t start_ns = 0, start_unix_ns = 0;
  std::map<std::string, std::string> attributes;
};

struct SeenRecord {
  std::string trace_id, root_span_id, root_parent_span_id, answer;
  uint64_t start_unix_ns = 0, duration_ns = 0;
  int capture = -1;
  bool prompt_null = true;
  std::vector<std::pair<std::string, std::string>> prompt;  // role, content
  std::vector<SeenSpan> spans;
  std::vector<const SeenSpan*> stage(const std::string& name) const {
    std::vector<const SeenSpan*> out;
    for (const SeenSpan& s : spans) {
      if (s.stage == name) out.push_back(&s);
    }
    return out;
  }
};
std::vector<SeenRecord> g_records;

std::string text(outrigger_str s) { return std::string(plugin::view(s)); }

class CapturingExporter final : public plugin::Exporter {
 public:
  static constexpr const char* kName = "capturing";
  static constexpr const char* kDescription = "test exporter";
  static constexpr const char* kConfigSchema = "{}";
  CapturingExporter(plugin::Host h, std::string_view n, std::string_view) : Exporter(h, n) {}

  outrigger_status exportRecord(const outrigger_record_view& r) override {
    // On the exporter thread: no test macros here; a record not kept fails the test's REQUIRE.
    if (r.hdr.struct_size < OUTRIGGER_SIZE_THROUGH(outrigger_record_view, answer_tool_call_count)) return OUTRIGGER_OK;
    SeenRecord seen;
    seen.trace_id = text(r.trace_id);
    seen.root_span_id = text(r.root_span_id);
    seen.root_parent_span_id = text(r.root_parent_span_id);
    seen.start_unix_ns = r.start_unix_ns;
    seen.duration_ns = r.duration_ns;
    seen.capture = r.capture;
    seen.answer = text(r.answer);
    seen.prompt_null = r.prompt == nullptr;
    for (size_t i = 0; r.prompt && i < r.prompt_count; ++i) seen.prompt.emplace_back(text(r.prompt[i].role), text(r.prompt[i].content));
    for (size_t i = 0; i < r.span_count; ++i) {
      const auto* t = reinterpret_cast<const outrigger_span_trace_view*>(
          reinterpret_cast<const char*>(r.span_traces) + i * r.span_trace_size);
      SeenSpan s{text(r.spans[i].stage), text(r.spans[i].instance), text(r.spans[i].outcome), text(t->span_id),
                 text(t->parent_span_id), r.spans[i].start_ns, t->start_unix_ns, {}};
      for (size_t j = 0; j < t->attribute_count; ++j) s.attributes[text(t->attributes[j].key)] = text(t->attributes[j].value);
      seen.spans.push_back(std::move(s));
    }
    g_records.push_back(std::move(seen));
    return OUTRIGGER_OK;
  }
};

// ------------------------------------------------------------------ the stages

struct Answer {
  outrigger_code code = OUTRIGGER_CODE_OK;
  outrigger_usage usage{};
  double cost_usd = 0;
};
std::deque<Answer> g_answers;  // the provider's answers in order; OK echoes when empty
bool g_cache_hits = false;
std::string g_cache_text = "cached";  // what a hit answers

// Answers at once: the next scripted answer, echoing the last message when it is OK.
class ScriptedProvider final : public plugin::Provider {
 public:
  static constexpr const char* kName = "scripted";
  static constexpr const char* kDescription = "test provider";
  static constexpr const char* kConfigSchema = "{}";
  ScriptedProvider(plugin::Host h, std::string_view n, std::string_view) : Provider(h, n) {}
  outrigger_status start(const outrigger_request_view& r) override {
    Answer a;
    if (!g_answers.empty()) {
      a = g_answers.front();
      g_answers.pop_front();
    }
    echo_ = text(r.messages[r.message_count - 1].content);
    outrigger_response_view resp = plugin::makeResponse();
    resp.code = a.code;
    resp.retryable = a.code == OUTRIGGER_CODE_UNAVAILABLE;
    if (a.code == OUTRIGGER_CODE_OK) resp.content = plugin::str(echo_);
    resp.usage = a.usage;
    resp.cost_usd = a.cost_usd;
    host().providerDone(r.handle, resp);
    return OUTRIGGER_PENDING;
  }
  void cancel(outrigger_request) override {}

 private:
  std::string echo_;
};

// Rewrites "secret" to "[P1]" in the last message (the pattern of guardrail_actions_test.cc).
class RedactingGuard final : public plugin::Guardrail {
 public:
  static constexpr const char* kName = "redacting";
  static constexpr const char* kDescription = "test guardrail";
  static constexpr const char* kConfigSchema = "{}";
  RedactingGuard(plugin::Host h, std::string_view n, std::string_view) : Guardrail(h, n) {}
  outrigger_status onRequest(const outrigger_request_view& r, outrigger_guardrail_result& res) override {
    rewritten_ = text(r.messages[r.message_count - 1].content);
    size_t at = rewritten_.find("secret");
    if (at == std::string::npos) return OUTRIGGER_CONTINUE;
    rewritten_.replace(at, 6, "[P1]");
    message_ = {plugin::str("user"), plugin::str(rewritten_), {}, {}, nullptr, 0};
    action_ = {};
    action_.hdr = OUTRIGGER_HEADER_INIT(outrigger_guardrail_action);
    action_.messages = &message_;
    action_.message_count = 1;
    res.verdict = OUTRIGGER_VERDICT_REWRITE;
    res.reason = plugin::str("redacted 1 secret");
    res.action = &action_;
    return OUTRIGGER_CONTINUE;
  }

 private:
  std::string rewritten_;
  outrigger_message_view message_{};
  outrigger_guardrail_action action_{};
};

// Hits with g_cache_text when g_cache_hits, else misses.
class ToggleCache final : public plugin::Cache {
 public:
  static constexpr const char* kName = "toggle";
  static constexpr const char* kDescription = "test cache";
  static constexpr const char* kConfigSchema = "{}";
  ToggleCache(plugin::Host h, std::string_view n, std::string_view) : Cache(h, n) {}
  outrigger_status lookup(const outrigger_request_view& r) override {
    if (!g_cache_hits) return OUTRIGGER_CONTINUE;
    outrigger_response_view hit = plugin::makeResponse();
    hit.content = plugin::str(g_cache_text);
    host().cacheDone(r.handle, &hit);
    return OUTRIGGER_PENDING;
  }
  void store(const outrigger_request_view&, const outrigger_response_view&) override {}
};

class Sink : public ResponseSink {
 public:
  void onStart(uint64_t, const ResponseStartInfo&) override {}
  Flow onChunk(uint64_t, const ResponseChunkInfo&) override { return Flow::kOk; }
  void onEnd(uint64_t, const ResponseEndInfo& e) override {
    code = e.code;
    ++ends;
  }
  Code code = Code::kUnknown;
  int ends = 0;
};

struct RouteShape {
  bool guardrail = false;
  bool cache = false;
  config::Capture capture = config::Capture::kNone;
  resilience::RoutePolicy policy = {};
};

// A route [redacting guardrail] -> [toggle cache] -> scripted provider (target "scripted/m"),
// exporting to the capturing exporter on a real exporter thread.
struct Rig {
  plugin::PluginType provider_type = typeFor(plugin::typeOf<ScriptedProvider>());
  plugin::PluginType guard_type = typeFor(plugin::typeOf<RedactingGuard>());
  plugin::PluginType cache_type = typeFor(plugin::typeOf<ToggleCache>());
  plugin::PluginType exporter_type = typeFor(plugin::typeOf<CapturingExporter>());
  event::EventLoop loop{51};
  telemetry::ExporterThread exporter{64};
  chain::Engine engine{loop, {60000, 600000, 1000000}, &exporter};
  Sink sink;

  explicit Rig(const RouteShape& shape) {
    g_records.clear();
    g_answers.clear();
    g_cache_hits = false;
    g_cache_text = "cached";
    exporter.start();
    auto make = [](const plugin::PluginType& type, const char* name, const char* kind) {
      config::InstanceSettings is{name, kind, name, "{}", config::OnError::kDeny, "t:1", {}};
      return plugin::PluginInstance::create(type, is, chain::hostApiTemplate()).value();
    };
    auto chain = std::make_shared<chain::WorkerChain>();
    chain::Route r;
    r.name = "default";
    chain::Target t;
    t.stage = {make(provider_type, "scripted", "provider"), "provider/scripted"};
    t.model = "m";
    t.key = "scripted/m";
    r.targets.push_back(t);
    r.provider = t.stage;
    r.policy = shape.policy;
    r.capture = shape.capture;
    if (shape.guardrail) r.guardrails.push_back({make(guard_type, "redacting", "guardrail"), "guardrail/redacting"});
    if (shape.cache) r.cache.push_back({make(cache_type, "toggle", "cache"), "cache/toggle"});
    r.exporters.push_back({make(exporter_type, "capturing", "exporter"), "exporter/capturing"});
    chain::layOutSteps(&chain->routes.emplace("default", std::move(r)).first->second);
    chain->default_route = "default";
    engine.setChain(chain);
  }
  ~Rig() { loop.runUntilForTest([] { return false; }, 5); }

  // Runs one request to its end and returns its record, once the exporter thread drained.
  const SeenRecord& ask(const std::string& content, const std::string& traceparent = "") {
    auto in = std::make_unique<chain::CallInput>();
    in->model = "default";
    in->messages.push_back({"user", content, "", "", {}});
    in->traceparent = traceparent;
    int before = sink.ends;
    loop.runUntilForTest([&] {
      engine.start(std::move(in), &sink, 1);
      return true;
    }, 10);
    REQUIRE(loop.runUntilForTest([&] { return sink.ends > before; }, 2000));
    exporter.stop();  // exports what is queued first
    REQUIRE(g_records.size() == 1);
    return g_records.back();
  }
};

bool isSpanId(const std::string& id) {
  return id.size() == 16 && id.find_first_not_of("0123456789abcdef") == std::string::npos &&
         id != "0000000000000000";
}

}  // namespace

TEST_CASE("record trace: the root span is a child of the caller's traceparent span, every stage span a child of the root") {
  Rig rig({.guardrail = true});
  const SeenRecord& r = rig.ask("hello", kTraceparent);
  CHECK(r.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(r.root_parent_span_id == "00f067aa0ba902b7");
  CHECK(isSpanId(r.root_span_id));
  REQUIRE(r.spans.size() >= 2);  // guardrail.request, resilience, provider, guardrail.response
  std::set<std::string> ids{r.root_span_id, r.root_parent_span_id};
  for (const SeenSpan& s : r.spans) {
    INFO(s.stage);
    CHECK(isSpanId(s.span_id));
    CHECK(s.parent_span_id == r.root_span_id);
    ids.insert(s.span_id);
  }
  CHECK(ids.size() == r.spans.size() + 2);  // unique within the trace, the caller's span included
}

TEST_CASE("record trace: without a traceparent the root has no parent and the trace id is minted") {
  Rig rig({});
  const SeenRecord& r = rig.ask("hello");
  CHECK(r.root_parent_span_id.empty());
  CHECK(isSpanId(r.root_span_id));
  CHECK(r.trace_id.size() == 32);
  for (const SeenSpan& s : r.spans) CHECK(s.parent_span_id == r.root_span_id);
}

// A malformed traceparent's 32 characters became the trace id: an all-zero one (which OTLP
// exporters then drop, spans and all) or one that is not hex. W3C says: start a new trace.
TEST_CASE("record trace: a malformed or all-zero traceparent starts a trace of its own") {
  for (const char* tp : {"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                         "00-zzf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                         "00-4bf92f3577b34da6a3ce929d0e0e4736x00f067aa0ba902b7-01",
                         "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                         "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}) {
    INFO(tp);
    Rig rig({});
    const SeenRecord& r = rig.ask("hello", tp);
    CHECK(r.trace_id.size() == 32);
    CHECK(r.trace_id.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(r.trace_id != "00000000000000000000000000000000");
    CHECK(r.trace_id != "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK(r.root_parent_span_id.empty());
  }
}

TEST_CASE("record trace: span wall-clock starts lie within the request's window, on the monotonic clock's offsets") {
  Rig rig({.guardrail = true});
  uint64_t before = wallNowNs();
  const SeenRecord& r = rig.ask("hello");
  uint64_t after = wallNowNs();
  CHECK(r.start_unix_ns >= before);
  CHECK(r.start_unix_ns + r.duration_ns <= after);
  REQUIRE(r.spans.size() >= 3);
  for (const SeenSpan& s : r.spans) {
    INFO(s.stage);
    CHECK(s.start_unix_ns >= r.start_unix_ns);
    CHECK(s.start_unix_ns <= r.start_unix_ns + r.duration_ns);
    CHECK(s.start_unix_ns - r.spans[0].start_unix_ns == s.start_ns - r.spans[0].start_ns);
  }
}

TEST_CASE("record trace: after a retry, each attempt span carries its target, model, status and usage, the second its retry reason") {
  RouteShape shape;
  shape.policy.retry.max_attempts = 2;
  shape.policy.retry.base_backoff_ms = 1;
  shape.policy.retry.max_backoff_ms = 1;
  Rig rig(shape);
  g_answers = {{OUTRIGGER_CODE_UNAVAILABLE, {7, 0, 0, 0}, 0.001}, {OUTRIGGER_CODE_OK, {10, 5, 2, 0}, 0.25}};
  const SeenRecord& r = rig.ask("hello");
  CHECK(rig.sink.code == Code::kOk);
  auto attempts = r.stage("provider");
  REQUIRE(attempts.size() == 2);
  for (const SeenSpan* a : attempts) {
    CHECK(a->attributes.at("gen_ai.operation.name") == "chat");
    CHECK(a->attributes.at("gen_ai.provider.name") == "scripted");
    CHECK(a->attributes.at("gen_ai.request.model") == "m");
    CHECK(a->attributes.at("outrigger.target") == "scripted/m");
  }
  const auto& first = attempts[0]->attributes;
  CHECK(first.at("outrigger.status") == "UNAVAILABLE");
  CHECK(first.at("error.type") == "UNAVAILABLE");
  CHECK(first.at("gen_ai.usage.input_tokens") == "7");
  CHECK(first.at("gen_ai.usage.output_tokens") == "0");
  CHECK(first.at("outrigger.cost_usd") == "0.001");
  CHECK(first.count("outrigger.retry_reason") == 0);
  const auto& second = attempts[1]->attributes;
  CHECK(second.at("outrigger.status") == "OK");
  CHECK(second.count("error.type") == 0);
  CHECK(second.at("gen_ai.usage.input_tokens") == "10");
  CHECK(second.at("gen_ai.usage.output_tokens") == "5");
  CHECK(second.at("gen_ai.usage.cache_read.input_tokens") == "2");
  CHECK(second.at("outrigger.cost_usd") == "0.25");
  REQUIRE(second.count("outrigger.retry_reason") == 1);
  CHECK(second.at("outrigger.retry_reason").rfind("retry scripted/m", 0) == 0);
}

TEST_CASE("record trace: a guardrail span carries its verdict, a cache lookup span whether it hit") {
  {
    Rig rig({.guardrail = true, .cache = true});
    const SeenRecord& miss = rig.ask("my secret");
    REQUIRE(miss.stage("guardrail.request").size() == 1);
    CHECK(miss.stage("guardrail.request")[0]->attributes.at("outrigger.guardrail.verdict") == "rewrite");
    REQUIRE(miss.stage("cache.lookup").size() == 1);
    CHECK(miss.stage("cache.lookup")[0]->attributes.at("outrigger.cache.hit") == "false");
  }
  Rig rig({.guardrail = true, .cache = true});
  g_cache_hits = true;
  const SeenRecord& hit = rig.ask("hello");
  REQUIRE(hit.stage("guardrail.request").size() == 1);
  CHECK(hit.stage("guardrail.request")[0]->attributes.at("outrigger.guardrail.verdict") == "pass");
  REQUIRE(hit.stage("cache.lookup").size() == 1);
  CHECK(hit.stage("cache.lookup")[0]->attributes.at("outrigger.cache.hit") == "true");
  CHECK(hit.stage("provider").empty());
}

TEST_CASE("record trace: a cache hit whose text is not UTF-8 is not served: a miss that says why, and the provider answers") {
  Rig rig({.cache = true});
  g_cache_hits = true;
  g_cache_text = "caf\xe9";
  const SeenRecord& r = rig.ask("hello");
  CHECK(rig.sink.code == Code::kOk);
  REQUIRE(r.stage("cache.lookup").size() == 1);
  CHECK(r.stage("cache.lookup")[0]->attributes.at("outrigger.cache.hit") == "false");
  CHECK(r.stage("cache.lookup")[0]->attributes.at("outrigger.cache.error") == "the stored answer's text is not UTF-8");
  CHECK(r.stage("provider").size() == 1);
}

TEST_CASE("record content: capture none (the default) carries no prompt and no answer") {
  Rig rig({.guardrail = true});
  const SeenRecord& r = rig.ask("my secret");
  CHECK(r.capture == OUTRIGGER_CAPTURE_NONE);
  CHECK(r.prompt_null);
  CHECK(r.answer.empty());
}

TEST_CASE("record content: capture full carries the prompt as rewritten and the answer") {
  Rig rig({.guardrail = true, .capture = config::Capture::kFull});
  const SeenRecord& r = rig.ask("my secret");
  CHECK(r.capture == OUTRIGGER_CAPTURE_FULL);
  REQUIRE(r.prompt.size() == 1);
  CHECK(r.prompt[0].first == "user");
  CHECK(r.prompt[0].second == "my [P1]");  // what the provider saw, not what the caller sent
  CHECK(r.answer == "my [P1]");
}

TEST_CASE("record content: capture metadata carries the prompt's roles without text, and no answer") {
  Rig rig({.capture = config::Capture::kMetadata});
  const SeenRecord& r = rig.ask("hello");
  CHECK(r.capture == OUTRIGGER_CAPTURE_METADATA);
  REQUIRE(r.prompt.size() == 1);
  CHECK(r.prompt[0].first == "user");
  CHECK(r.prompt[0].second.empty());
  CHECK(r.answer.empty());
}
