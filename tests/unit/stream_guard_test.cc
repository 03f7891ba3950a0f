// ABI 1.2 streaming hold-back on a real loop: guardrails hold chunks, release them (or a
// replacement), stop the stream, decide later while the provider pauses, decide on what they
// hold at the end of the stream; held bytes are bounded; a failing on_chunk never fails open
// without the record saying so.
#include <catch2/catch.hpp>

#include <deque>

#include <outrigger/plugin.hpp>

#include "chain/chain.h"
#include "chain/engine.h"
#include "chain/host_api.h"
#include "chain/stream_guard.h"
#include "plugin/schema.h"
#include "support/in_test_plugins.h"

using namespace outrigger;
using outrigger::testing::typeFor;

namespace {

struct Script {
  std::vector<std::string> chunks = {"Hel", "lo wor", "ld. ", "Bye"};
  // hold_to_period | redact_card | hold_all_stop_at_end | hold_all | pending | fail | upper
  std::string first_mode = "hold_to_period";
  std::string second_mode = "";  // "" (no second guardrail) | record
  bool respect_pause = false;    // the provider stops at PAUSE until resume
  bool whole = false;            // the provider answers whole (the chunks joined), never streaming
  size_t fail_first_after = 0;   // the first attempt fails (retryable) after this many chunks; 0: never
  uint32_t fail_retry_after_ms = 0;  // and asks for this wait before the retry
  bool as_tool_call = false;     // each chunk is a delta of one tool call's arguments, with no text
  int attempts = 0, restarts = 0;
  std::vector<outrigger_status> chunk_statuses;
  int resumes = 0, provider_cancels = 0, guard_cancels = 0, stream_ends = 0;
  std::vector<std::string> second_saw;
  const outrigger_host_api* guard_host = nullptr;
  outrigger_request handle{};
  outrigger_status late_decision = OUTRIGGER_OK;
};
Script s;

class Streamer final : public plugin::Provider {
 public:
  static constexpr const char* kName = "streamer";
  static constexpr const char* kDescription = "test provider";
  static constexpr const char* kConfigSchema = "{}";
  Streamer(plugin::Host h, std::string_view n, std::string_view) : Provider(h, n) {}

  outrigger_status start(const outrigger_request_view& r) override {
    handle_ = r.handle;
    next_ = 0;
    ++s.attempts;
    sendMore();
    return OUTRIGGER_PENDING;
  }
  void cancel(outrigger_request) override { ++s.provider_cancels; }
  void resume(outrigger_request) override {
    ++s.resumes;
    sendMore();
  }

 private:
  void sendMore() {
    if (s.whole) {
      std::string text;
      for (const std::string& c : s.chunks) text += c;
      outrigger_response_view done = plugin::makeResponse();
      done.content = plugin::str(text);
      host().providerDone(handle_, done);
      return;
    }
    while (next_ < s.chunks.size()) {
      if (s.attempts == 1 && s.fail_first_after && next_ == s.fail_first_after) {
        outrigger_response_view failure = plugin::makeError(OUTRIGGER_CODE_UNAVAILABLE, "upstream reset", true);
        failure.retry_after_ms = s.fail_retry_after_ms;
        host().providerDone(handle_, failure);
        return;
      }
      // A view of the script's own string: `cond ? "" : s.chunks[next_]` would be a temporary copy,
      // gone before the host reads the chunk.
      outrigger_chunk_view chunk = plugin::makeChunk(s.as_tool_call ? std::string_view() : std::string_view(s.chunks[next_]));
      outrigger_tool_call_delta_view call{};
      if (s.as_tool_call) {
        call.name = plugin::str(next_ == 0 ? "f" : "");
        call.arguments = plugin::str(s.chunks[next_]);
        chunk.tool_calls = &call;
        chunk.tool_call_count = 1;
      }
      ++next_;
      outrigger_status st = host().providerChunk(handle_, chunk);
      s.chunk_statuses.push_back(st);
      if (st == OUTRIGGER_E_STALE) return;
      if (st == OUTRIGGER_PAUSE && s.respect_pause) return;
    }
    outrigger_response_view done = plugin::makeResponse();
    done.usage = {3, 4, 0, 0};
    host().providerDone(handle_, done);
  }
  outrigger_request handle_{};
  size_t next_ = 0;
};

// Replacement text a RELEASE carries; the action must live until the hook returns.
struct Release {
  std::string text;
  outrigger_guardrail_action action{};
  const outrigger_guardrail_action* with(std::string t) {
    text = std::move(t);
    action = {};
    action.hdr = OUTRIGGER_HEADER_INIT(outrigger_guardrail_action);
    action.content = plugin::str(text);
    action.replace_content = 1;
    return &action;
  }
};

class Holder final : public plugin::Guardrail {
 public:
  static constexpr const char* kName = "holder";
  static constexpr const char* kDescription = "test guardrail";
  static constexpr const char* kConfigSchema = "{}";
  Holder(plugin::Host h, std::string_view n, std::string_view) : Guardrail(h, n), second_(n == "second") {
    if (!second_) s.guard_host = h.api();
  }

  outrigger_status onChunk(const outrigger_request_view& r, const outrigger_chunk_view& c,
                           outrigger_guardrail_result& res) override {
    std::string piece(plugin::view(c.delta));
    if (second_) {
      s.second_saw.push_back(piece);
      return OUTRIGGER_CONTINUE;
    }
    s.handle = r.handle;
    const std::string& mode = s.first_mode;
    if (mode == "hold_to_period") return piece.find('.') == std::string::npos ? OUTRIGGER_HOLD : OUTRIGGER_RELEASE;
    if (mode == "redact_card") {
      seen_ += piece;
      if (seen_.find("4111") == std::string::npos && piece.find(' ') == std::string::npos) return OUTRIGGER_HOLD;
      std::string out = seen_;
      for (size_t at; (at = out.find("4111")) != std::string::npos;) out.replace(at, 4, "[CARD]");
      if (out != seen_) {  // a release that changed the text says so: the record counts rewrites by it
        res.verdict = OUTRIGGER_VERDICT_REWRITE;
        res.reason = plugin::str("card number redacted");
      }
      seen_.clear();
      res.action = release_.with(out);
      return OUTRIGGER_RELEASE;
    }
    if (mode == "hold_all" || mode == "hold_all_stop_at_end" || mode == "hold_all_end_pending") return OUTRIGGER_HOLD;
    if (mode == "upper") {
      for (char& ch : piece) ch = char(std::toupper(static_cast<unsigned char>(ch)));
      res.action = release_.with(piece);
      return OUTRIGGER_RELEASE;
    }
    if (mode == "fail") return piece == "lo wor" ? OUTRIGGER_E_INTERNAL : OUTRIGGER_CONTINUE;
    if (mode == "pending") {
      outrigger_request h = r.handle;
      host().setTimer(h, 2, [this, h](outrigger_status st) {
        if (st != OUTRIGGER_OK) return;
        host().guardrailDecided(h, OUTRIGGER_CONTINUE, OUTRIGGER_VERDICT_PASS, "", nullptr);
        s.late_decision = host().guardrailDecided(h, OUTRIGGER_CONTINUE, OUTRIGGER_VERDICT_PASS, "", nullptr);
      });
      return OUTRIGGER_PENDING;
    }
    if (mode == "pending_forever") return OUTRIGGER_PENDING;
    return OUTRIGGER_CONTINUE;
  }

  void onStreamRestart(const outrigger_request_view&) override {
    if (second_) return;
    ++s.restarts;
    seen_.clear();
  }

  outrigger_status onStreamEnd(const outrigger_request_view&, outrigger_guardrail_result& res) override {
    if (second_) return OUTRIGGER_CONTINUE;
    ++s.stream_ends;
    if (s.first_mode == "hold_all_end_pending") return OUTRIGGER_PENDING;
    if (s.first_mode == "hold_all_stop_at_end") {
      res.verdict = OUTRIGGER_VERDICT_DENY;
      res.reason = plugin::str("the whole answer is off topic");
      return OUTRIGGER_STOP;
    }
    return OUTRIGGER_CONTINUE;  // release what is held
  }
  void onCancel(outrigger_request) override { ++s.guard_cancels; }

 private:
  bool second_;
  std::string seen_;
  Release release_;
};

struct Outcome {
  Code code = Code::kUnknown;
  std::string content, message;
  std::vector<std::string> chunks;
  size_t tool_deltas = 0;         // tool-call deltas the client received
  std::string tool_arguments;     // their arguments, joined
  std::vector<Verdict> verdicts;
  int ends = 0;
  int64_t held = 0;  // what the sink was told is held, net
  uint64_t prompt_tokens = 0, completion_tokens = 0;  // the end's usage
};

class Sink : public ResponseSink {
 public:
  void onStart(uint64_t, const ResponseStartInfo&) override {}
  Flow onChunk(uint64_t, const ResponseChunkInfo& c) override {
    out.chunks.emplace_back(c.delta);
    out.tool_deltas += c.tool_call_count;
    for (size_t i = 0; i < c.tool_call_count; ++i) out.tool_arguments += c.tool_calls[i].arguments;
    return Flow::kOk;
  }
  void onHeld(uint64_t, int64_t delta) override { out.held += delta; }
  void onEnd(uint64_t, const ResponseEndInfo& e) override {
    out.code = e.code;
    out.content = std::string(e.content);
    out.message = std::string(e.message);
    out.verdicts = e.verdicts ? *e.verdicts : std::vector<Verdict>{};
    out.prompt_tokens = e.usage.prompt_tokens;
    out.completion_tokens = e.usage.completion_tokens;
    held_at_end = out.held;
    ++out.ends;
  }
  Outcome out;
  int64_t held_at_end = -1;
};

struct Rig {
  event::EventLoop loop{48};
  chain::Engine engine{loop, {60000, 600000, 1000000}, nullptr};
  plugin::PluginType provider_type = typeFor(plugin::typeOf<Streamer>());
  plugin::PluginType guard_type = typeFor(plugin::typeOf<Holder>());
  Sink sink;

  explicit Rig(uint32_t max_held_bytes = 65536, config::OnError on_error = config::OnError::kDeny,
               bool second = false) {
    s = Script{};
    config::InstanceSettings ps{"streamer", "provider", "streamer", "{}", config::OnError::kDeny, "t:1", {}};
    config::InstanceSettings gs{"first", "guardrail", "holder", "{}", on_error, "t:2", {}};
    config::InstanceSettings g2{"second", "guardrail", "holder", "{}", config::OnError::kDeny, "t:3", {}};
    auto chain = std::make_shared<chain::WorkerChain>();
    chain::Route r;
    r.name = "default";
    r.provider = {plugin::PluginInstance::create(provider_type, ps, chain::hostApiTemplate()).value(), "provider/streamer"};
    r.guardrails.push_back({plugin::PluginInstance::create(guard_type, gs, chain::hostApiTemplate()).value(), "guardrail/first"});
    if (second) {
      r.guardrails.push_back({plugin::PluginInstance::create(guard_type, g2, chain::hostApiTemplate()).value(), "guardrail/second"});
    }
    r.max_held_bytes = max_held_bytes;
    r.policy.retry.max_attempts = 2;  // an attempt that fails before any chunk went out is retried
    r.policy.retry.base_backoff_ms = 1;
    r.policy.retry.max_backoff_ms = 1;
    chain::layOutSteps(&chain->routes.emplace("default", std::move(r)).first->second);
    chain->default_route = "default";
    engine.setChain(chain);
  }
  ~Rig() { loop.runUntilForTest([] { return false; }, 5); }

  void start(bool stream = true) {
    auto in = std::make_unique<chain::CallInput>();
    in->model = "default";
    in->messages.push_back({"user", "talk", "", "", {}});
    in->stream = stream;
    loop.runUntilForTest([&] {
      engine.start(std::move(in), &sink, 1);
      return true;
    }, 10);
  }
  const Outcome& run(bool stream = true) {
    start(stream);
    loop.runUntilForTest([&] { return sink.out.ends > 0; }, 2000);
    return sink.out;
  }
  const Verdict* verdictOf(const std::string& name) const {
    for (const Verdict& v : sink.out.verdicts) {
      if (v.guardrail == name) return &v;
    }
    return nullptr;
  }
};

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& p : v) out += p;
  return out;
}

}  // namespace

TEST_CASE("held chunks go out together on release, and what is still held at the stream's end goes out then") {
  Rig rig;
  const Outcome& out = rig.run();
  REQUIRE(out.code == Code::kOk);
  CHECK(out.chunks == std::vector<std::string>{"Hello world. ", "Bye"});
  CHECK(s.stream_ends == 1);
  CHECK(rig.sink.held_at_end == 0);  // every held byte was given back before the end
  REQUIRE(rig.verdictOf("first"));
  CHECK(rig.verdictOf("first")->kind == VerdictKind::kPass);  // it saw every chunk
}

TEST_CASE("a release that only lets held text go is no rewrite: the verdict says what the guardrail did") {
  Rig rig(65536, config::OnError::kDeny, /*second=*/true);
  s.first_mode = "redact_card";
  s.chunks = {"no ", "card ", "here ok"};  // held until a space, released as it was
  const Outcome& out = rig.run();
  REQUIRE(out.code == Code::kOk);
  CHECK(joined(out.chunks) == "no card here ok");
  REQUIRE(rig.verdictOf("first"));
  CHECK(rig.verdictOf("first")->kind == VerdictKind::kPass);
  CHECK(rig.engine.counters().rewrites == 0);
}

TEST_CASE("a release with a replacement is what the client, the next guardrail and the answer get") {
  Rig rig(65536, config::OnError::kDeny, /*second=*/true);
  s.first_mode = "redact_card";
  s.chunks = {"my card ", "41", "11 ok"};
  const Outcome& out = rig.run();
  REQUIRE(out.code == Code::kOk);
  std::string streamed = joined(out.chunks);
  CHECK(streamed == "my card [CARD] ok");
  CHECK(streamed.find("41") == std::string::npos);
  CHECK(joined(s.second_saw) == "my card [CARD] ok");
  REQUIRE(rig.verdictOf("first"));
  CHECK(rig.verdictOf("first")->kind == VerdictKind::kRewrite);
  CHECK(rig.engine.counters().rewrites >= 1);
}

TEST_CASE("a retried stream starts over in the guardrails: nothing kept of the failed attempt reaches the answer") {
  Rig rig(65536, config::OnError::kDeny, /*second=*/true);
  s.first_mode = "redact_card";
  s.chunks = {"card:", "41", "11 ok"};
  s.fail_first_after = 2;  // "card:" and "41" are held (no space yet), then the upstream resets
  const Outcome& out = rig.run();
  INFO(out.message << " after " << s.attempts << " attempt(s)");
  REQUIRE(out.code == Code::kOk);
  CHECK(s.attempts == 2);
  CHECK(s.restarts == 1);
  CHECK(joined(out.chunks) == "card:[CARD] ok");
  CHECK(joined(s.second_saw) == "card:[CARD] ok");
}

TEST_CASE("a provider that answers a streaming request whole is guarded like a stream: nothing unredacted goes out") {
  Rig rig(65536, config::OnError::kDeny, /*second=*/true);
  s.first_mode = "redact_card";
  s.whole = true;
  s.chunks = {"my card ", "41", "11 ok"};
  const Outcome& out = rig.run();
  REQUIRE(out.code == Code::kOk);
  std::string streamed = joined(out.chunks);
  CHECK(streamed == "my card [CARD] ok");
  CHECK(streamed.find("41") == std::string::npos);
  CHECK(joined(s.second_saw) == "my card [CARD] ok");
  CHECK(s.stream_ends == 1);
}

TEST_CASE("a unary answer streamed by the provider gets the guardrails' replacement as its content") {
  Rig rig;
  s.first_mode = "upper";
  const Outcome& out = rig.run(/*stream=*/false);
  REQUIRE(out.code == Code::kOk);
  CHECK(out.chunks.empty());
  CHECK(out.content == "HELLO WORLD. BYE");
}

TEST_CASE("on_stream_end may stop a stream it held whole: the client gets no chunk and a deny") {
  Rig rig;
  s.first_mode = "hold_all_stop_at_end";
  const Outcome& out = rig.run();
  CHECK(out.code == Code::kPermissionDenied);
  CHECK(out.message == "the whole answer is off topic");
  CHECK(out.chunks.empty());
  REQUIRE(rig.verdictOf("first"));
  CHECK(rig.verdictOf("first")->kind == VerdictKind::kDeny);
  CHECK(rig.sink.held_at_end == 0);
  // The upstream answered in full before the deny: its usage is the request's (it was lost).
  CHECK(out.prompt_tokens == 3);
  CHECK(out.completion_tokens == 4);
}

TEST_CASE("holding more than max_held_bytes ends the stream RESOURCE_EXHAUSTED and cancels the provider") {
  Rig rig(8);
  s.first_mode = "hold_all";
  s.chunks = {"12345", "67890", "abcde"};
  const Outcome& out = rig.run();
  CHECK(out.code == Code::kResourceExhausted);
  CHECK(out.message.find("max_held_bytes (8)") != std::string::npos);
  CHECK(out.chunks.empty());
  CHECK(rig.engine.counters().hold_overflows == 1);
  CHECK(s.provider_cancels == 1);
  REQUIRE(s.chunk_statuses.size() == 2);  // the second chunk went over; the provider stopped there
  CHECK(s.chunk_statuses[1] == OUTRIGGER_E_STALE);
  CHECK(rig.sink.held_at_end == 0);
}

TEST_CASE("held tool-call deltas count toward max_held_bytes as text does") {
  Rig rig(8 + 32);  // a held call counts 32 bytes besides its strings
  s.first_mode = "hold_all";
  s.as_tool_call = true;
  s.chunks = {"{\"q\":", "\"12345", "67890\"}"};
  const Outcome& out = rig.run();
  CHECK(out.code == Code::kResourceExhausted);
  CHECK(out.message.find("max_held_bytes (40)") != std::string::npos);
  CHECK(rig.engine.counters().hold_overflows == 1);
  CHECK(s.provider_cancels == 1);
  REQUIRE(s.chunk_statuses.size() == 2);  // the name and 5 bytes, then 6 more: over 40 at the second
  CHECK(s.chunk_statuses[1] == OUTRIGGER_E_STALE);
  CHECK(rig.sink.held_at_end == 0);
}

TEST_CASE("a call streamed in many tiny deltas is held as one: released whole, and counted without rescanning") {
  // 40,000 one-byte argument deltas, held to the end: each chunk used to walk every held delta
  // to count the held bytes (800 million visits), and the client got 40,000 deltas.
  Rig rig(1u << 20);
  s.first_mode = "hold_all";
  s.as_tool_call = true;
  s.chunks.assign(40000, "a");
  const Outcome& out = rig.run();
  REQUIRE(out.code == Code::kOk);
  CHECK(out.tool_deltas == 1);
  CHECK(out.tool_arguments == std::string(40000, 'a'));
  CHECK(rig.sink.held_at_end == 0);
}

TEST_CASE("a pending chunk decision pauses the provider, chunks keep their order, and a second decision is refused") {
  Rig rig;
  s.first_mode = "pending";
  s.respect_pause = true;
  const Outcome& out = rig.run();
  REQUIRE(out.code == Code::kOk);
  CHECK(joined(out.chunks) == "Hello world. Bye");
  CHECK(s.chunk_statuses.front() == OUTRIGGER_PAUSE);
  CHECK(s.resumes >= 1);
  CHECK(s.late_decision == OUTRIGGER_E_INVALID);
}

TEST_CASE("a provider that ignores PAUSE: chunks arriving during a decision wait, in order") {
  Rig rig;
  s.first_mode = "pending";
  s.respect_pause = false;
  const Outcome& out = rig.run();
  REQUIRE(out.code == Code::kOk);
  CHECK(out.chunks == std::vector<std::string>{"Hel", "lo wor", "ld. ", "Bye"});
  CHECK(s.resumes == 0);  // it had finished: nothing to resume
}

// The retry waits 20 ms; the guardrail decides on the failed attempt's first chunk after 2 ms,
// meanwhile. That decision must not send the chunk: the retry streams the whole answer again.
TEST_CASE("a chunk decision that comes while a failed attempt's retry waits sends nothing of the failed attempt") {
  Rig rig;
  s.first_mode = "pending";
  s.respect_pause = false;
  s.fail_first_after = 1;
  s.fail_retry_after_ms = 20;
  const Outcome& out = rig.run();
  INFO(out.message << " after " << s.attempts << " attempt(s)");
  REQUIRE(out.code == Code::kOk);
  CHECK(s.attempts == 2);
  CHECK(joined(out.chunks) == "Hello world. Bye");
}

TEST_CASE("a deadline during a pending chunk decision reaches the guardrail's on_cancel, one end") {
  Rig rig;
  s.first_mode = "pending_forever";
  rig.start();
  REQUIRE(rig.loop.runUntilForTest([] { return !s.chunk_statuses.empty(); }, 1000));
  rig.loop.runUntilForTest([&] {
    rig.engine.cancel(s.handle, Code::kDeadlineExceeded, "deadline exceeded");
    return true;
  }, 10);
  CHECK(rig.sink.out.ends == 1);
  CHECK(rig.sink.out.code == Code::kDeadlineExceeded);
  CHECK(s.guard_cancels == 1);
  CHECK(rig.sink.held_at_end == 0);
}

TEST_CASE("a failing on_chunk with on_error = skip lets the chunk through and the record says so") {
  Rig rig(65536, config::OnError::kSkip);
  s.first_mode = "fail";
  const Outcome& out = rig.run();
  REQUIRE(out.code == Code::kOk);
  CHECK(joined(out.chunks) == "Hello world. Bye");
  const Verdict* v = rig.verdictOf("first");
  REQUIRE(v);
  CHECK(v->kind == VerdictKind::kSkipped);
  CHECK(v->reason.find("on_chunk failed on 1 of 4 chunks") == 0);
}

TEST_CASE("a failing on_chunk with on_error = deny ends the stream INTERNAL") {
  Rig rig;
  s.first_mode = "fail";
  const Outcome& out = rig.run();
  CHECK(out.code == Code::kInternal);
  CHECK(out.chunks == std::vector<std::string>{"Hel"});
  REQUIRE(rig.verdictOf("first"));
  CHECK(rig.verdictOf("first")->kind == VerdictKind::kError);
}

TEST_CASE("a deadline while on_stream_end is pending reaches on_cancel, and nothing held goes out") {
  Rig rig;
  s.first_mode = "hold_all_end_pending";
  rig.start();
  REQUIRE(rig.loop.runUntilForTest([] { return s.stream_ends == 1; }, 1000));
  CHECK(rig.sink.out.ends == 0);  // the answer waits for the decision
  rig.loop.runUntilForTest([&] {
    rig.engine.cancel(s.handle, Code::kDeadlineExceeded, "deadline exceeded");
    return true;
  }, 10);
  CHECK(rig.sink.out.ends == 1);
  CHECK(rig.sink.out.code == Code::kDeadlineExceeded);
  CHECK(rig.sink.out.chunks.empty());
  CHECK(s.guard_cancels == 1);
  CHECK(rig.sink.held_at_end == 0);
}

namespace {

// Guardrails written with the C++ wrapper that override one hook each.
class RequestOnly final : public plugin::Guardrail {
 public:
  static constexpr const char* kName = "request_only";
  static constexpr const char* kDescription = "test guardrail";
  static constexpr const char* kConfigSchema = "{}";
  RequestOnly(plugin::Host h, std::string_view n, std::string_view) : Guardrail(h, n) {}
  outrigger_status onRequest(const outrigger_request_view&, outrigger_guardrail_result&) override {
    return OUTRIGGER_CONTINUE;
  }
};

class EndOnly final : public plugin::Guardrail {
 public:
  static constexpr const char* kName = "end_only";
  static constexpr const char* kDescription = "test guardrail";
  static constexpr const char* kConfigSchema = "{}";
  EndOnly(plugin::Host h, std::string_view n, std::string_view) : Guardrail(h, n) {}
  outrigger_status onStreamEnd(const outrigger_request_view&, outrigger_guardrail_result&) override {
    return OUTRIGGER_CONTINUE;
  }
};

const outrigger_guardrail_hooks* guardrailHooks(const outrigger_plugin_type* t) {
  return static_cast<const outrigger_guardrail_hooks*>(t->hooks);
}

// A route of one guardrail of type `T`.
template <class T>
chain::Route routeGuardedBy() {
  static plugin::PluginType type = typeFor(plugin::typeOf<T>());
  config::InstanceSettings is{"g", "guardrail", T::kName, "{}", config::OnError::kDeny, "t:9", {}};
  chain::Route r;
  r.guardrails.push_back({plugin::PluginInstance::create(type, is, chain::hostApiTemplate()).value(), "guardrail/g"});
  return r;
}

}  // namespace

TEST_CASE("the C++ wrapper leaves out the stream hooks a guardrail does not override, so its route streams straight through") {
  const outrigger_guardrail_hooks* request_only = guardrailHooks(plugin::typeOf<RequestOnly>());
  CHECK(request_only->on_request != nullptr);
  CHECK(request_only->on_chunk == nullptr);
  CHECK(request_only->on_stream_end == nullptr);
  const outrigger_guardrail_hooks* end_only = guardrailHooks(plugin::typeOf<EndOnly>());
  CHECK(end_only->on_chunk == nullptr);
  CHECK(end_only->on_stream_end != nullptr);
  const outrigger_guardrail_hooks* holder = guardrailHooks(plugin::typeOf<Holder>());
  CHECK(holder->on_chunk != nullptr);
  CHECK(holder->on_stream_end != nullptr);

  CHECK_FALSE(chain::StreamGuard::needed(routeGuardedBy<RequestOnly>()));
  CHECK(chain::StreamGuard::needed(routeGuardedBy<EndOnly>()));
  CHECK(chain::StreamGuard::needed(routeGuardedBy<Holder>()));
}
