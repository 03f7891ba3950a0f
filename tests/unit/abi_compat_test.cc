// ABI compatibility inside major 1: plugins built against the frozen 1.0 and 1.1 headers load
// and work on today's host, tables smaller than their oldest layout are refused, and the host
// never reads a plugin's struct past its struct_size.
#include <catch2/catch.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <outrigger/plugin.hpp>

#include "chain/engine.h"
#include "chain/host_api.h"
#include "frozen_layouts.h"
#include "outrigger_generated.h"
#include "plugin/instance.h"
#include "plugin/loader.h"
#include "plugin/plugin_struct.h"
#include "plugin/schema.h"
#include "support/frames.h"

using namespace outrigger;
using namespace outrigger::testing;

namespace {

std::string fixture(const std::string& name) { return std::string(OUTRIGGER_FIXTURE_DIR) + "/" + name + ".so"; }

std::shared_ptr<const plugin::PluginType> loadedType(const std::string& library, outrigger_kind kind) {
  auto types = plugin::loadLibrary(fixture(library));
  REQUIRE(types.ok());
  for (const auto& t : types.value()) {
    if (t->kind == kind) return t;
  }
  FAIL("no such type in " << library);
  return nullptr;
}

// Two pages, the second unreadable: place(n) returns n bytes that end where the guard page
// starts, so reading one byte past them faults.
class GuardedBytes {
 public:
  GuardedBytes() : page_(::sysconf(_SC_PAGESIZE)) {
    base_ = static_cast<char*>(::mmap(nullptr, 2 * page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    REQUIRE(base_ != MAP_FAILED);
    REQUIRE(::mprotect(base_ + page_, page_, PROT_NONE) == 0);
  }
  ~GuardedBytes() { ::munmap(base_, 2 * page_); }
  template <class T>
  T* place(const T& prefix, size_t bytes) {
    char* at = base_ + page_ - bytes;
    std::memcpy(at, &prefix, std::min(bytes, sizeof(T)));
    return reinterpret_cast<T*>(at);
  }

 private:
  size_t page_;
  char* base_;
};

struct Ended {
  Code code;
  std::string message, content;
};

class RecordingSink : public ResponseSink {
 public:
  void onStart(uint64_t, const ResponseStartInfo&) override {}
  Flow onChunk(uint64_t, const ResponseChunkInfo& c) override {
    chunks.emplace_back(c.delta);
    return Flow::kOk;
  }
  void onEnd(uint64_t, const ResponseEndInfo& e) override {
    ends.push_back({e.code, std::string(e.message), std::string(e.content)});
  }
  std::vector<std::string> chunks;
  std::vector<Ended> ends;
};

// One worker's engine on a loop the test drives, with one route: [guardrail] -> provider.
struct Worker {
  event::EventLoop loop{7};
  chain::Engine engine{loop, {60000, 600000, 1000}, nullptr};
  RecordingSink sink;

  Worker(const plugin::PluginType& provider, const plugin::PluginType* guardrail) {
    auto chain = std::make_shared<chain::WorkerChain>();
    chain::Route r;
    r.name = "default";
    r.provider = {instance(provider, "provider", "p"), "provider/p"};
    if (guardrail) r.guardrails.push_back({instance(*guardrail, "guardrail", "g"), "guardrail/g"});
    chain::layOutSteps(&chain->routes.emplace("default", std::move(r)).first->second);
    chain->default_route = "default";
    engine.setChain(chain);
  }
  ~Worker() { loop.runUntilForTest([] { return false; }, 5); }  // let closed handles free

  static std::shared_ptr<plugin::PluginInstance> instance(const plugin::PluginType& t, const char* kind, const char* name) {
    config::InstanceSettings s{name, kind, t.name, "{}", config::OnError::kDeny, "abi:1", {}};
    auto created = plugin::PluginInstance::create(t, s, chain::hostApiTemplate());
    REQUIRE(created.ok());
    return created.value();
  }
  Ended run(RequestSpec spec) {
    std::string f = requestFrame(1, spec);
    auto buf = chain::FrameBuffer::copyOf(reinterpret_cast<const uint8_t*>(f.data()), f.size());
    const auto* req = wire::GetSizePrefixedFrame(buf.data())->body_as_Request();
    loop.runUntilForTest([&] {
      engine.start(std::move(buf), req, &sink, 1);
      return true;
    }, 10);
    REQUIRE(loop.runUntilForTest([&] { return !sink.ends.empty(); }, 2000));
    REQUIRE(sink.ends.size() == 1);
    return sink.ends[0];
  }
  Ended runEmbed(std::vector<std::string> inputs) {
    RequestSpec spec;
    spec.messages.clear();
    std::string f = requestFrame(1, spec);
    auto buf = chain::FrameBuffer::copyOf(reinterpret_cast<const uint8_t*>(f.data()), f.size());
    const auto* req = wire::GetSizePrefixedFrame(buf.data())->body_as_Request();
    auto embed = std::make_unique<chain::EmbedInput>();
    embed->inputs = std::move(inputs);
    loop.runUntilForTest([&] {
      engine.start(std::move(buf), req, &sink, 1, std::move(embed));
      return true;
    }, 10);
    REQUIRE(loop.runUntilForTest([&] { return !sink.ends.empty(); }, 2000));
    return sink.ends[0];
  }
};

}  // namespace

TEST_CASE("the minimum struct sizes are the layouts of the frozen 1.0 and 1.1 headers") {
  const frozen_layouts& v10 = outrigger_frozen_layouts_1_0;
  const frozen_layouts& v11 = outrigger_frozen_layouts_1_1;
  REQUIRE(v10.abi_minor == 0);
  REQUIRE(v11.abi_minor == 1);
  CHECK(OUTRIGGER_MIN_SIZE_PLUGIN_ENTRY == v10.plugin_entry);
  CHECK(OUTRIGGER_MIN_SIZE_PLUGIN_TYPE == v10.plugin_type);
  CHECK(OUTRIGGER_MIN_SIZE_PROVIDER_HOOKS == v10.provider_hooks);
  CHECK(OUTRIGGER_MIN_SIZE_GUARDRAIL_HOOKS == v10.guardrail_hooks);
  CHECK(OUTRIGGER_MIN_SIZE_CACHE_HOOKS == v10.cache_hooks);
  CHECK(OUTRIGGER_MIN_SIZE_EXPORTER_HOOKS == v10.exporter_hooks);
  CHECK(OUTRIGGER_MIN_SIZE_RESPONSE_VIEW == v10.response_view);
  CHECK(OUTRIGGER_MIN_SIZE_CHUNK_VIEW == v10.chunk_view);
  CHECK(OUTRIGGER_MIN_SIZE_HTTP_REQUEST == v11.http_request);
  CHECK(OUTRIGGER_MIN_SIZE_HTTP_SINK == v11.http_sink);
  // What has grown since: the host table at 1.1 (HTTP), then again within 1.1 (embeddings_done),
  // and the provider hooks within 1.1 (embed), which the first 1.1 header does not have.
  CHECK(v10.host_api < v11.host_api);
  CHECK(v11.host_api < sizeof(outrigger_host_api));
  CHECK(v11.provider_hooks == v10.provider_hooks);
  CHECK(v11.provider_hooks < sizeof(outrigger_provider_hooks));
}

TEST_CASE("a 1.0 or 1.1 exporter reads today's record: the span element and the record's prefix kept their layout") {
  for (const frozen_layouts* v : {&outrigger_frozen_layouts_1_0, &outrigger_frozen_layouts_1_1}) {
    INFO("minor " << v->abi_minor);
    CHECK(sizeof(outrigger_span_view) == v->span_view);  // the stride an older exporter steps spans by
    CHECK(OUTRIGGER_SIZE_THROUGH(outrigger_record_view, verdict_count) == v->record_view);
  }
  CHECK(sizeof(outrigger_record_view) > outrigger_frozen_layouts_1_1.record_view);  // the 1.2 tail
}

TEST_CASE("plugins built against the frozen 1.0 and 1.1 headers load on today's host") {
  for (const auto& [library, minor] : {std::pair{"abi_1_0", 0}, std::pair{"abi_1_1", 1}}) {
    auto types = plugin::loadLibrary(fixture(library));
    INFO(library);
    REQUIRE(types.ok());
    REQUIRE(types.value().size() == 2);
    for (const auto& t : types.value()) {
      CHECK(t->abi_minor == minor);
      CHECK(t->name == "frozen");
    }
  }
}

TEST_CASE("a table smaller than its ABI 1.0 layout is refused with both sizes named") {
  auto entry = plugin::loadLibrary(fixture("small_entry"));
  REQUIRE_FALSE(entry.ok());
  CHECK(entry.status().message().find("small_entry.so: entry table too small (" +
                                      std::to_string(offsetof(outrigger_plugin_entry, type_count)) +
                                      " bytes; its oldest layout is " +
                                      std::to_string(OUTRIGGER_MIN_SIZE_PLUGIN_ENTRY) + ")") != std::string::npos);
  auto hooks = plugin::loadLibrary(fixture("small_hooks"));
  REQUIRE_FALSE(hooks.ok());
  CHECK(hooks.status().message().find("type 'fx_small_hooks' has a hook table too small (24 bytes; its oldest layout is 32)") !=
        std::string::npos);
}

TEST_CASE("a provider and a guardrail built against a frozen older header work through the chain") {
  for (const char* library : {"abi_1_0", "abi_1_1"}) {
    INFO(library);
    auto provider = loadedType(library, OUTRIGGER_KIND_PROVIDER);
    auto guardrail = loadedType(library, OUTRIGGER_KIND_GUARDRAIL);
    std::string says = std::string(library) + " says: ";
    {
      Worker unary(*provider, guardrail.get());
      Ended e = unary.run({.messages = {{"user", "hello"}}});
      CHECK(e.code == Code::kOk);
      CHECK(e.content == says + "hello");
    }
    {
      Worker streamed(*provider, guardrail.get());
      Ended e = streamed.run({.messages = {{"user", "hello"}}, .stream = true});
      CHECK(e.code == Code::kOk);
      CHECK(streamed.sink.chunks == std::vector<std::string>{says, "hello"});  // the end carries no content
    }
    {
      Worker denied(*provider, guardrail.get());
      Ended e = denied.run({.messages = {{"user", "something forbidden"}}});
      CHECK(e.code == Code::kPermissionDenied);
      CHECK(e.message == std::string(library) + " guardrail denies");
    }
  }
}

TEST_CASE("an older provider without the embed slot answers UNIMPLEMENTED whatever follows its table") {
  // The fixture's hook table is followed by a function that answers INTERNAL if ever called.
  for (const char* library : {"abi_1_0", "abi_1_1"}) {
    INFO(library);
    auto provider = loadedType(library, OUTRIGGER_KIND_PROVIDER);
    Worker w(*provider, nullptr);
    Ended e = w.runEmbed({"one"});
    CHECK(e.code == Code::kUnimplemented);
  }
}

// ------------------------------------------------------------------ views at their 1.0 size

namespace {

// How the probe provider hands its answer to the host: views of exactly `view_size` bytes that
// end at a guard page, through the raw host table.
struct ViewProbe {
  size_t chunk_size = OUTRIGGER_MIN_SIZE_CHUNK_VIEW;
  size_t response_size = OUTRIGGER_MIN_SIZE_RESPONSE_VIEW;
  std::vector<outrigger_status> results;
};
ViewProbe probe;

class GuardedViewProvider final : public plugin::Provider {
 public:
  static constexpr const char* kName = "guarded";
  static constexpr const char* kDescription = "answers with views that end at a guard page";
  static constexpr const char* kConfigSchema = "{}";
  GuardedViewProvider(plugin::Host h, std::string_view n, std::string_view) : Provider(h, n) {}

  outrigger_status start(const outrigger_request_view& r) override {
    const outrigger_host_api* api = host().api();
    GuardedBytes chunk_page, done_page;
    outrigger_chunk_view chunk = plugin::makeChunk("streamed");
    chunk.hdr.struct_size = static_cast<uint32_t>(probe.chunk_size);
    probe.results.push_back(api->provider_chunk(api->host_ctx, r.handle, chunk_page.place(chunk, probe.chunk_size)));
    outrigger_response_view done = plugin::makeResponse();
    done.hdr.struct_size = static_cast<uint32_t>(probe.response_size);
    done.finish_reason = plugin::str("stop");
    probe.results.push_back(api->provider_done(api->host_ctx, r.handle, done_page.place(done, probe.response_size)));
    return OUTRIGGER_PENDING;
  }
  void cancel(outrigger_request) override {}
};

// The type of an in-process plugin class, as the loader would make it of a library's.
template <class Plugin>
plugin::PluginType inProcessType() {
  plugin::PluginType t;
  t.c_type = plugin::typeOf<Plugin>();
  t.kind = t.c_type->kind;
  t.name = Plugin::kName;
  t.schema = plugin::compileSchema(R"({"type":"object"})").value();
  return t;
}

plugin::PluginType guardedType() { return inProcessType<GuardedViewProvider>(); }

// A chunk view as a later minor might grow it: one more slot at the tail.
struct GrownChunkView {
  outrigger_header hdr;
  outrigger_str delta;
  const outrigger_tool_call_delta_view* tool_calls;
  size_t tool_call_count;
  uint64_t added_later;
};

}  // namespace

TEST_CASE("views of exactly their 1.0 size that end at a guard page are read without a fault") {
  probe = ViewProbe{};
  plugin::PluginType type = guardedType();
  Worker w(type, nullptr);
  Ended e = w.run({.messages = {{"user", "hello"}}, .stream = true});
  CHECK(probe.results == std::vector<outrigger_status>{OUTRIGGER_OK, OUTRIGGER_OK});
  CHECK(e.code == Code::kOk);
  CHECK(w.sink.chunks == std::vector<std::string>{"streamed"});
}

TEST_CASE("views smaller than their 1.0 layout are refused with E_INVALID and change nothing") {
  probe = ViewProbe{};
  probe.chunk_size = OUTRIGGER_MIN_SIZE_CHUNK_VIEW - sizeof(size_t);           // no tool_call_count
  probe.response_size = OUTRIGGER_MIN_SIZE_RESPONSE_VIEW - sizeof(outrigger_str);  // no model
  plugin::PluginType type = guardedType();
  Worker w(type, nullptr);
  RequestSpec spec{.messages = {{"user", "hello"}}, .timeout_ms = 200};
  Ended e = w.run(spec);
  CHECK(probe.results == std::vector<outrigger_status>{OUTRIGGER_E_INVALID, OUTRIGGER_E_INVALID});
  CHECK(w.sink.chunks.empty());
  CHECK(e.code == Code::kDeadlineExceeded);  // the provider never answered validly
}

TEST_CASE("a struct read from a plugin stops at its struct_size: a later slot reads as zero") {
  GuardedBytes page;
  GrownChunkView older{};
  older.hdr = {OUTRIGGER_MIN_SIZE_CHUNK_VIEW, 1, 0};
  older.delta = plugin::str("abc");
  older.added_later = 0xdeadbeef;  // garbage where the plugin's struct has already ended
  GrownChunkView copy;
  SECTION("garbage past struct_size is ignored") {
    REQUIRE(plugin::copyPluginStruct(&older, OUTRIGGER_MIN_SIZE_CHUNK_VIEW, &copy));
    CHECK(plugin::view(copy.delta) == "abc");
    CHECK(copy.added_later == 0);
    CHECK(copy.hdr.struct_size == sizeof(GrownChunkView));  // the host's copy is whole
  }
  SECTION("nothing past struct_size is touched, even at a guard page") {
    REQUIRE(plugin::copyPluginStruct(page.place(older, OUTRIGGER_MIN_SIZE_CHUNK_VIEW), OUTRIGGER_MIN_SIZE_CHUNK_VIEW, &copy));
    CHECK(copy.added_later == 0);
  }
  SECTION("a struct smaller than its oldest layout is refused") {
    older.hdr.struct_size = OUTRIGGER_MIN_SIZE_CHUNK_VIEW - 1;
    CHECK_FALSE(plugin::copyPluginStruct(&older, OUTRIGGER_MIN_SIZE_CHUNK_VIEW, &copy));
    CHECK_FALSE(plugin::copyPluginStruct<GrownChunkView>(nullptr, OUTRIGGER_MIN_SIZE_CHUNK_VIEW, &copy));
  }
}

// ------------------------------------------------------------------ text that is not UTF-8

namespace {

// How the Latin-1 provider answers: "caf\xe9" whole, as a chunk, as a failure's message, or
// valid text (so a retry or a second chunk can be told apart).
enum class Latin1 { kUnary, kChunk, kChunkAfterValid, kFailureMessage, kValid };
struct Latin1Probe {
  Latin1 mode = Latin1::kUnary;
  std::vector<outrigger_status> chunk_results;
};
Latin1Probe latin1;

class Latin1Provider final : public plugin::Provider {
 public:
  static constexpr const char* kName = "latin1";
  static constexpr const char* kDescription = "answers text in Latin-1";
  static constexpr const char* kConfigSchema = "{}";
  Latin1Provider(plugin::Host h, std::string_view n, std::string_view) : Provider(h, n) {}

  outrigger_status start(const outrigger_request_view& r) override {
    const outrigger_host_api* api = host().api();
    auto chunk = [&](const char* text) {
      outrigger_chunk_view c = plugin::makeChunk(text);
      latin1.chunk_results.push_back(api->provider_chunk(api->host_ctx, r.handle, &c));
    };
    outrigger_response_view done = plugin::makeResponse();
    done.finish_reason = plugin::str("stop");
    done.usage.prompt_tokens = 3;
    done.usage.completion_tokens = 2;
    switch (latin1.mode) {
      case Latin1::kUnary: done.content = plugin::str("caf\xe9"); break;
      case Latin1::kChunk: chunk("caf\xe9"); chunk("more"); break;
      case Latin1::kChunkAfterValid: chunk("fine, "); chunk("caf\xe9"); break;
      case Latin1::kFailureMessage:
        done.code = OUTRIGGER_CODE_INVALID_ARGUMENT;
        done.message = plugin::str("mauvaise requ\xeate");
        break;
      case Latin1::kValid: done.content = plugin::str("caf\xc3\xa9"); break;
    }
    api->provider_done(api->host_ctx, r.handle, &done);
    return OUTRIGGER_PENDING;
  }
  void cancel(outrigger_request) override {}
};

}  // namespace

TEST_CASE("a provider's text that is not UTF-8 never reaches the caller: the attempt fails typed") {
  plugin::PluginType type = inProcessType<Latin1Provider>();
  latin1 = {};
  {
    Worker w(type, nullptr);
    latin1.mode = Latin1::kValid;
    Ended ok = w.run({.messages = {{"user", "hello"}}});
    CHECK(ok.code == Code::kOk);
    CHECK(ok.content == "caf\xc3\xa9");
  }
  {
    Worker w(type, nullptr);
    latin1.mode = Latin1::kUnary;
    Ended e = w.run({.messages = {{"user", "hello"}}});
    CHECK(e.code == Code::kUnavailable);
    CHECK(e.message == "provider p answered text that is not UTF-8");
    CHECK(e.content.empty());
  }
  {
    // Streamed: the chunk is refused (E_INVALID), and so is anything after it; none goes out.
    Worker w(type, nullptr);
    latin1.mode = Latin1::kChunk;
    latin1.chunk_results.clear();
    Ended e = w.run({.messages = {{"user", "hello"}}, .stream = true});
    CHECK(latin1.chunk_results == std::vector<outrigger_status>{OUTRIGGER_E_INVALID, OUTRIGGER_E_INVALID});
    CHECK(w.sink.chunks.empty());
    CHECK(e.code == Code::kUnavailable);
    CHECK(e.message == "provider p answered text that is not UTF-8");
  }
  {
    // After a chunk went out the stream ends with the error: what was sent was valid.
    Worker w(type, nullptr);
    latin1.mode = Latin1::kChunkAfterValid;
    latin1.chunk_results.clear();
    Ended e = w.run({.messages = {{"user", "hello"}}, .stream = true});
    CHECK(latin1.chunk_results == std::vector<outrigger_status>{OUTRIGGER_OK, OUTRIGGER_E_INVALID});
    CHECK(w.sink.chunks == std::vector<std::string>{"fine, "});
    CHECK(e.code == Code::kUnavailable);
  }
  {
    // A failure keeps its code; its message is repaired.
    Worker w(type, nullptr);
    latin1.mode = Latin1::kFailureMessage;
    Ended e = w.run({.messages = {{"user", "hello"}}});
    CHECK(e.code == Code::kInvalidArgument);
    CHECK(e.message == "mauvaise requ\xef\xbf\xbd" "te");
  }
}
