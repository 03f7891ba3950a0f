// Cache keying and tenant isolation: the key function directly, and the real cache_memory .so
// through the real loader.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>

#include <outrigger/plugin.hpp>

#include "cache_key.h"
#include "plugin/loader.h"
#include "support/resident_memory.h"

using namespace outrigger;

namespace {

struct ViewBuilder {
  std::vector<outrigger_message_view> msgs;
  outrigger_params_view params{};
  outrigger_metadata_view md{};
  outrigger_request_view view{};
  std::string tenant, content;

  ViewBuilder(std::string t, std::string c, uint32_t slot = 1) : tenant(std::move(t)), content(std::move(c)) {
    msgs.push_back({plugin::str("user"), plugin::str(content), {}, {}, nullptr, 0});
    md.tenant = plugin::str(tenant);
    view.hdr = OUTRIGGER_HEADER_INIT(outrigger_request_view);
    view.handle = {slot, 1};
    view.route = plugin::str("default");
    view.model = plugin::str("m");
    view.messages = msgs.data();
    view.message_count = msgs.size();
    view.params = &params;
    view.metadata = &md;
  }
};

}  // namespace

TEST_CASE("equal requests give equal keys, tenant, content, params and route all change the key") {
  ViewBuilder a("acme", "hello"), b("acme", "hello");
  CHECK(cache::canonicalKey(a.view) == cache::canonicalKey(b.view));
  ViewBuilder other_tenant("globex", "hello");
  CHECK(cache::canonicalKey(a.view) != cache::canonicalKey(other_tenant.view));
  ViewBuilder other_text("acme", "hello!");
  CHECK(cache::canonicalKey(a.view) != cache::canonicalKey(other_text.view));
  b.params.present = OUTRIGGER_PARAM_TEMPERATURE;
  b.params.temperature = 0.5f;
  CHECK(cache::canonicalKey(a.view) != cache::canonicalKey(b.view));
  ViewBuilder c("acme", "hello");
  c.view.route = plugin::str("other");
  CHECK(cache::canonicalKey(a.view) != cache::canonicalKey(c.view));
}

TEST_CASE("a schema's strictness and name, and a tool's or tool call's type, change the key") {
  ViewBuilder a("acme", "hello");
  a.params.response_format = OUTRIGGER_FORMAT_JSON_SCHEMA;
  a.params.response_schema_json = plugin::str(R"({"type":"object"})");
  a.params.response_schema_name = plugin::str("answer");
  ViewBuilder strict("acme", "hello");
  strict.params = a.params;
  strict.params.response_schema_strict = 1;
  CHECK(cache::canonicalKey(a.view) != cache::canonicalKey(strict.view));
  ViewBuilder renamed("acme", "hello");
  renamed.params = a.params;
  renamed.params.response_schema_name = plugin::str("other");
  CHECK(cache::canonicalKey(a.view) != cache::canonicalKey(renamed.view));

  outrigger_tool_view tool{};
  tool.type = plugin::str("function");
  tool.name = plugin::str("lookup");
  ViewBuilder with_tool("acme", "hello"), other_type("acme", "hello");
  with_tool.params.tools = &tool;
  with_tool.params.tool_count = 1;
  outrigger_tool_view custom = tool;
  custom.type = plugin::str("custom");
  other_type.params.tools = &custom;
  other_type.params.tool_count = 1;
  CHECK(cache::canonicalKey(with_tool.view) != cache::canonicalKey(other_type.view));

  outrigger_tool_call_view call{};
  call.id = plugin::str("call_1");
  call.type = plugin::str("function");
  call.name = plugin::str("lookup");
  outrigger_tool_call_view custom_call = call;
  custom_call.type = plugin::str("custom");
  ViewBuilder called("acme", "hello"), custom_called("acme", "hello");
  called.msgs[0].tool_calls = &call;
  called.msgs[0].tool_call_count = 1;
  custom_called.msgs[0].tool_calls = &custom_call;
  custom_called.msgs[0].tool_call_count = 1;
  CHECK(cache::canonicalKey(called.view) != cache::canonicalKey(custom_called.view));
}

TEST_CASE("length prefixes keep field boundaries: ('ab','c') and ('a','bc') differ") {
  ViewBuilder a("ab", "c"), b("a", "bc");
  CHECK(cache::canonicalKey(a.view) != cache::canonicalKey(b.view));
  CHECK_FALSE(cache::hashKey(cache::canonicalKey(a.view)) == cache::hashKey(cache::canonicalKey(b.view)));
}

namespace {

struct FakeHost {
  static inline int hits = 0;
  static inline std::string last_content;
  static inline uint64_t now = 1'000'000'000;
  static outrigger_status cacheDone(void*, outrigger_request, const outrigger_response_view* r) noexcept {
    if (r) {
      ++hits;
      last_content.assign(r->content.data, r->content.size);
    }
    return OUTRIGGER_OK;
  }
  static uint64_t nowNs(void*) noexcept { return now; }
  static void log(void*, outrigger_log_level, outrigger_str) noexcept {}
  static outrigger_host_api api() {
    outrigger_host_api a{};
    a.hdr = OUTRIGGER_HEADER_INIT(outrigger_host_api);
    a.cache_done = &cacheDone;
    a.now_ns = &nowNs;
    a.log = &log;
    return a;
  }
};

// The real cache_memory.so through the real loader, one instance made with `config`.
struct MemoryCachePlugin {
  explicit MemoryCachePlugin(const std::string& config)
      : types(plugin::loadLibrary(std::string(OUTRIGGER_PLUGIN_DIR) + "/cache_memory.so")) {
    REQUIRE(types.ok());
    type = types->at(0)->c_type;
    outrigger_error err{};
    REQUIRE(type->create(&api, plugin::str("mem"), plugin::str(config), &inst, &err) == OUTRIGGER_OK);
    hooks = static_cast<const outrigger_cache_hooks*>(type->hooks);
  }
  ~MemoryCachePlugin() {
    if (inst) type->destroy(inst);
  }
  MemoryCachePlugin(const MemoryCachePlugin&) = delete;
  MemoryCachePlugin& operator=(const MemoryCachePlugin&) = delete;

  decltype(plugin::loadLibrary(std::string())) types;
  const outrigger_plugin_type* type = nullptr;
  outrigger_host_api api = FakeHost::api();
  void* inst = nullptr;
  const outrigger_cache_hooks* hooks = nullptr;
};

}  // namespace

TEST_CASE("the memory cache plugin answers hits, never across tenants, and honours TTL") {
  MemoryCachePlugin cache(R"({"ttl_ms": 1000, "max_bytes": 1048576})");
  CHECK((cache.type->capabilities & OUTRIGGER_CAP_SHARED_INSTANCE) != 0);
  void* inst = cache.inst;
  const auto* hooks = cache.hooks;
  FakeHost::hits = 0;

  ViewBuilder acme("acme", "what is 2+2?");
  CHECK(hooks->lookup(inst, &acme.view) == OUTRIGGER_CONTINUE);  // miss
  outrigger_response_view answer = plugin::makeResponse();
  answer.content = plugin::str("4");
  answer.usage.prompt_tokens = 5;
  hooks->store(inst, &acme.view, &answer);

  ViewBuilder acme_again("acme", "what is 2+2?", 2);
  CHECK(hooks->lookup(inst, &acme_again.view) == OUTRIGGER_PENDING);
  CHECK(FakeHost::hits == 1);
  CHECK(FakeHost::last_content == "4");

  ViewBuilder globex("globex", "what is 2+2?", 3);
  CHECK(hooks->lookup(inst, &globex.view) == OUTRIGGER_CONTINUE);  // another tenant never hits
  ViewBuilder anonymous("", "what is 2+2?", 4);
  CHECK(hooks->lookup(inst, &anonymous.view) == OUTRIGGER_CONTINUE);

  FakeHost::now += 2'000'000'000;  // past the TTL
  CHECK(hooks->lookup(inst, &acme_again.view) == OUTRIGGER_CONTINUE);
  CHECK(FakeHost::hits == 1);

  // An answer cut short by the token limit is not stored: the next caller asks the provider.
  ViewBuilder truncated("acme", "write a long poem", 5);
  outrigger_response_view cut = plugin::makeResponse();
  cut.content = plugin::str("Roses are");
  cut.finish_reason = plugin::str("length");
  hooks->store(inst, &truncated.view, &cut);
  CHECK(hooks->lookup(inst, &truncated.view) == OUTRIGGER_CONTINUE);

  // A request TTL overrides the default.
  acme.view.cache_ttl_ms = 10'000;
  hooks->store(inst, &acme.view, &answer);
  FakeHost::now += 5'000'000'000;
  CHECK(hooks->lookup(inst, &acme_again.view) == OUTRIGGER_PENDING);
}

TEST_CASE("the memory cache stays within its byte budget, evicting least recently used") {
  // 16 shards x 4 KiB: room for only a few 1 KiB answers per shard.
  MemoryCachePlugin cache(R"({"max_bytes": 65536})");
  void* inst = cache.inst;
  const auto* hooks = cache.hooks;
  std::string big(1024, 'x');
  outrigger_response_view answer = plugin::makeResponse();
  answer.content = plugin::str(big);
  std::vector<std::unique_ptr<ViewBuilder>> views;
  for (int i = 0; i < 500; ++i) {
    views.push_back(std::make_unique<ViewBuilder>("t", "question " + std::to_string(i)));
    hooks->store(inst, &views.back()->view, &answer);
  }
  FakeHost::hits = 0;
  int present = 0;
  for (auto& v : views) present += hooks->lookup(inst, &v->view) == OUTRIGGER_PENDING;
  CHECK(present > 0);
  CHECK(present < 64);  // 64 KiB cannot hold 500 KiB of answers
  CHECK(hooks->lookup(inst, &views.back()->view) == OUTRIGGER_PENDING);  // the newest survives
}

// An answer larger than its shard's share (max_bytes / 16) evicted every other entry of the
// shard, then itself: it is not stored, and what the shard held stays.
TEST_CASE("the memory cache does not store an answer past a shard's share, and keeps what the shard held") {
  MemoryCachePlugin cache(R"({"max_bytes": 32768})");  // 2 KiB a shard
  void* inst = cache.inst;
  const auto* hooks = cache.hooks;
  std::vector<std::unique_ptr<ViewBuilder>> small;
  outrigger_response_view answer = plugin::makeResponse();
  answer.content = plugin::str("short");
  for (int i = 0; i < 64; ++i) {
    small.push_back(std::make_unique<ViewBuilder>("t", "small " + std::to_string(i)));
    hooks->store(inst, &small.back()->view, &answer);
  }
  int before = 0;
  for (auto& v : small) before += hooks->lookup(inst, &v->view) == OUTRIGGER_PENDING;
  std::string big(3000, 'x');
  outrigger_response_view large = plugin::makeResponse();
  large.content = plugin::str(big);
  for (int i = 0; i < 16; ++i) {
    ViewBuilder v("t", "large " + std::to_string(i));
    hooks->store(inst, &v.view, &large);
    CHECK(hooks->lookup(inst, &v.view) == OUTRIGGER_CONTINUE);
  }
  int after = 0;
  for (auto& v : small) after += hooks->lookup(inst, &v->view) == OUTRIGGER_PENDING;
  CHECK(before > 0);
  CHECK(after == before);
}

using outrigger::testing::grownSince;
using outrigger::testing::kRssMeasurable;
using outrigger::testing::residentBytes;

TEST_CASE("the memory bound holds the process to about the bytes it allows, small answers included") {
  // Short answers are the common case; their keys (built with 256 bytes reserved) and the
  // entries' nodes were not counted, so 4 MiB allowed took 7.3 MB.
  MemoryCachePlugin cache(R"({"max_bytes": 4194304})");
  void* inst = cache.inst;
  const auto* hooks = cache.hooks;
  outrigger_response_view answer = plugin::makeResponse();
  answer.content = plugin::str("ok");
  size_t before = residentBytes();
  for (int i = 0; i < 40000; ++i) {
    ViewBuilder v("tenant", "question number " + std::to_string(i));
    hooks->store(inst, &v.view, &answer);
  }
  if (kRssMeasurable) CHECK(grownSince(before) < (6u << 20));
}
