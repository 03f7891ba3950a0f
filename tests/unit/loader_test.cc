#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include <outrigger/plugin.hpp>

#include "chain/host_api.h"
#include "plugin/instance.h"
#include "plugin/loader.h"
#include "plugin/schema.h"
#include "support/daemon_process.h"

using namespace outrigger;

namespace {

std::string fixture(const char* name) { return std::string(OUTRIGGER_FIXTURE_DIR) + "/" + name + ".so"; }

// A copy of the two_types fixture in `dir`, with `mode`.
std::string twoTypesCopy(const std::string& dir, mode_t mode) {
  std::string copy = dir + "/two_types.so";
  std::ifstream src(fixture("two_types"), std::ios::binary);
  std::ofstream(copy, std::ios::binary) << src.rdbuf();
  ::chmod(copy.c_str(), mode);
  return copy;
}

std::string loadError(const std::string& path) {
  auto r = plugin::loadLibrary(path);
  REQUIRE_FALSE(r.ok());
  return r.status().message();
}

}  // namespace

TEST_CASE("a library without the entry symbol is refused, naming the file and the host ABI") {
  std::string e = loadError(fixture("no_entry"));
  CHECK(e.find("no_entry.so") != std::string::npos);
  CHECK(e.find("outrigger_plugin_entry_v1") != std::string::npos);
  CHECK(e.find("host ABI 1.2") != std::string::npos);
}

TEST_CASE("a different ABI major is refused with both versions") {
  std::string e = loadError(fixture("wrong_major"));
  CHECK(e.find("wrong_major.so") != std::string::npos);
  CHECK(e.find("plugin ABI 2.3") != std::string::npos);
  CHECK(e.find("host supports ABI 1.2") != std::string::npos);
}

TEST_CASE("a plugin built for a newer minor is refused with both versions") {
  std::string e = loadError(fixture("newer_minor"));
  CHECK(e.find("newer plugin ABI 1.99") != std::string::npos);
  CHECK(e.find("host supports ABI 1.2") != std::string::npos);
}

TEST_CASE("a missing required hook slot is refused") {
  std::string e = loadError(fixture("missing_slot"));
  CHECK(e.find("fx_missing") != std::string::npos);
  CHECK(e.find("need start and cancel") != std::string::npos);
}

TEST_CASE("an entry table that counts types it has no array for is refused, not read") {
  std::string e = loadError(fixture("null_types"));
  CHECK(e.find("null_types.so: entry table counts 1 types but has no array of them") != std::string::npos);
}

TEST_CASE("an invalid config schema is refused at load") {
  CHECK(loadError(fixture("bad_schema")).find("config schema") != std::string::npos);
}

TEST_CASE("RTLD_NOW refuses a library with an unresolved symbol at load time, with dlerror") {
  std::string e = loadError(fixture("unresolved"));
  CHECK(e.find("dlopen failed") != std::string::npos);
  CHECK(e.find("outrigger_fixture_symbol_that_does_not_exist") != std::string::npos);
}

TEST_CASE("world-writable plugin files are refused") {
  std::string dir = testing::makeTempDir();
  std::string copy = twoTypesCopy(dir, 0777);
  std::string e = loadError(copy);
  CHECK(e.find("world-writable") != std::string::npos);
  ::chmod(copy.c_str(), 0755);
  CHECK(plugin::loadLibrary(copy).ok());
  outrigger::testing::removeTempDir(dir);
}

// dlopen runs a library's constructors before any check: a file another user could have put
// there or written is not opened at all.
TEST_CASE("plugins in a world-writable directory or owned by another user are refused") {
  std::string dir = testing::makeTempDir();
  std::string copy = twoTypesCopy(dir, 0755);
  ::chmod(dir.c_str(), 01777);  // like /tmp: anyone may add a file
  CHECK(loadError(copy).find("world-writable directory") != std::string::npos);
  plugin::PluginCatalog catalog;
  CHECK(catalog.addDirectory(dir).message().find("world-writable directory") != std::string::npos);
  ::chmod(dir.c_str(), 0755);
  if (::geteuid() == 0) {  // only root can give a file away
    REQUIRE(::chown(copy.c_str(), 65534, 65534) == 0);
    CHECK(loadError(copy).find("owned by uid 65534") != std::string::npos);
    REQUIRE(::chown(copy.c_str(), 0, 0) == 0);
  }
  CHECK(plugin::loadLibrary(copy).ok());
  outrigger::testing::removeTempDir(dir);
}

TEST_CASE("one library can provide several types, loading twice returns the same types") {
  auto a = plugin::loadLibrary(fixture("two_types"));
  REQUIRE(a.ok());
  REQUIRE(a->size() == 2);
  CHECK(a->at(0)->kind == OUTRIGGER_KIND_PROVIDER);
  CHECK(a->at(1)->kind == OUTRIGGER_KIND_GUARDRAIL);
  CHECK(a->at(0)->version == "2.1.0");
  auto b = plugin::loadLibrary(fixture("two_types"));
  REQUIRE(b.ok());
  CHECK(b->at(0).get() == a->at(0).get());
}

TEST_CASE("two libraries providing the same type are a conflict") {
  plugin::PluginCatalog catalog;
  REQUIRE(catalog.addLibrary(fixture("two_types")).isOk());
  Status s = catalog.addLibrary(fixture("dup_type"));
  CHECK(s.code() == Code::kAlreadyExists);
  CHECK(s.message().find("already provided by") != std::string::npos);
}

TEST_CASE("config is validated against the type's schema before create, with file:line") {
  auto types = plugin::loadLibrary(fixture("two_types"));
  REQUIRE(types.ok());
  config::InstanceSettings is;
  is.name = "p";
  is.where = "x.toml:7";
  is.config_json = R"({"level": "high"})";
  is.lines = {{"", "x.toml:8"}, {"/level", "x.toml:9"}};
  auto inst = plugin::PluginInstance::create(*types->at(0), is, chain::hostApiTemplate());
  REQUIRE_FALSE(inst.ok());
  CHECK(inst.status().message().find("x.toml:9") != std::string::npos);
  CHECK(inst.status().message().find("config/level") != std::string::npos);
  is.config_json = R"({"levle": 1})";
  inst = plugin::PluginInstance::create(*types->at(0), is, chain::hostApiTemplate());
  REQUIRE_FALSE(inst.ok());
  CHECK(inst.status().message().find("levle") != std::string::npos);
  is.config_json = R"({"level": 3})";
  CHECK(plugin::PluginInstance::create(*types->at(0), is, chain::hostApiTemplate()).ok());
}

// ------------------------------------------------------------------ the C++ wrapper

namespace {

int g_thrower_calls = 0;

class Thrower final : public plugin::Guardrail {
 public:
  static constexpr const char* kName = "thrower";
  static constexpr const char* kDescription = "throws";
  static constexpr const char* kConfigSchema = "{}";
  Thrower(plugin::Host h, std::string_view n, std::string_view config) : Guardrail(h, n) {
    if (config.find("fail_create") != std::string_view::npos) throw std::runtime_error("bad config value");
  }
  outrigger_status onRequest(const outrigger_request_view&, outrigger_guardrail_result&) override {
    ++g_thrower_calls;
    throw std::logic_error("boom");
  }
};

std::string g_logged;
void captureLog(void*, outrigger_log_level, outrigger_str m) noexcept { g_logged.assign(m.data, m.size); }

}  // namespace

TEST_CASE("the C++ wrapper catches a throwing hook, fails closed and disables the instance") {
  const outrigger_plugin_type* t = plugin::typeOf<Thrower>();
  outrigger_host_api api = chain::hostApiTemplate();
  api.log = &captureLog;
  void* inst = nullptr;
  outrigger_error err{};
  REQUIRE(t->create(&api, {"t", 1}, {"{}", 2}, &inst, &err) == OUTRIGGER_OK);
  const auto* hooks = static_cast<const outrigger_guardrail_hooks*>(t->hooks);
  outrigger_request_view view{};
  outrigger_guardrail_result result{};
  g_thrower_calls = 0;
  CHECK(hooks->on_request(inst, &view, &result) == OUTRIGGER_E_PLUGIN_EXCEPTION);
  CHECK(g_logged.find("boom") != std::string::npos);
  CHECK(hooks->on_request(inst, &view, &result) == OUTRIGGER_E_PLUGIN_EXCEPTION);
  CHECK(g_thrower_calls == 1);  // poisoned: user code is not called again
  t->destroy(inst);
}

TEST_CASE("an exception a Host callback throws is logged through the host and goes no further") {
  outrigger_host_api api = chain::hostApiTemplate();
  api.log = &captureLog;
  // A host that runs a post at once and visits one breaker, enough to reach the wrapper's shields.
  api.post = [](void*, outrigger_request, outrigger_callback fn, void* user_data) noexcept -> outrigger_status {
    fn(user_data, OUTRIGGER_OK);
    return OUTRIGGER_OK;
  };
  api.breakers = [](void*, outrigger_breaker_visitor visit, void* user_data) noexcept -> outrigger_status {
    outrigger_breaker_view breaker{};
    visit(user_data, &breaker);
    return OUTRIGGER_OK;
  };
  plugin::Host host(&api);
  g_logged.clear();
  CHECK(host.post(outrigger_request{}, [](outrigger_status) { throw std::runtime_error("posted kaboom"); }) == OUTRIGGER_OK);
  CHECK(g_logged == "an exception escaped a callback and was dropped: posted kaboom");
  g_logged.clear();
  CHECK(host.breakers([](const outrigger_breaker_view&) { throw 42; }) == OUTRIGGER_OK);
  CHECK(g_logged == "an exception escaped a callback and was dropped: unknown exception");
}

TEST_CASE("an exception in a constructor becomes a create error with its message") {
  const outrigger_plugin_type* t = plugin::typeOf<Thrower>();
  void* inst = nullptr;
  outrigger_error err{};
  CHECK(t->create(&chain::hostApiTemplate(), {"t", 1}, {"fail_create", 11}, &inst, &err) < 0);
  CHECK(std::string(err.message) == "bad config value");
}

TEST_CASE("ABI structs keep their v1.0 layout") {
  // Appending is allowed; moving a field is not. These offsets are the contract.
  STATIC_REQUIRE(sizeof(outrigger_header) == 8);
  STATIC_REQUIRE(sizeof(outrigger_str) == 16);
  STATIC_REQUIRE(sizeof(outrigger_request) == 8);
  STATIC_REQUIRE(offsetof(outrigger_host_api, host_ctx) == 8);
  STATIC_REQUIRE(offsetof(outrigger_host_api, provider_done) == 72);
  STATIC_REQUIRE(offsetof(outrigger_plugin_type, hooks) == 88);
  STATIC_REQUIRE(offsetof(outrigger_plugin_entry, type_count) == 48);
  STATIC_REQUIRE(offsetof(outrigger_request_view, trace_id) == 96);
  // Minor 1: outbound HTTP slots at the host table's tail, and their structs.
  STATIC_REQUIRE(offsetof(outrigger_host_api, http_request) == 80);
  STATIC_REQUIRE(offsetof(outrigger_host_api, http_cancel) == 88);
  STATIC_REQUIRE(offsetof(outrigger_host_api, http_resume) == 96);
  // Minor 1: embeddings, after the HTTP slots.
  STATIC_REQUIRE(offsetof(outrigger_host_api, embeddings_done) == 104);
  // Minor 2: guardrail decisions with actions, per-request state.
  STATIC_REQUIRE(offsetof(outrigger_host_api, guardrail_decided) == 112);
  STATIC_REQUIRE(offsetof(outrigger_host_api, set_request_state) == 120);
  STATIC_REQUIRE(offsetof(outrigger_host_api, request_state) == 128);
  STATIC_REQUIRE(offsetof(outrigger_host_api, limiter_done) == 136);
  STATIC_REQUIRE(offsetof(outrigger_host_api, complete) == 144);
  STATIC_REQUIRE(offsetof(outrigger_host_api, embed) == 152);
  // Minor 2: the instance's own loop, after the model calls.
  STATIC_REQUIRE(offsetof(outrigger_host_api, instance_post) == 160);
  STATIC_REQUIRE(offsetof(outrigger_host_api, instance_timer) == 168);
  STATIC_REQUIRE(offsetof(outrigger_host_api, instance_timer_cancel) == 176);
  STATIC_REQUIRE(offsetof(outrigger_host_api, watch_fd) == 184);
  STATIC_REQUIRE(offsetof(outrigger_host_api, watch_fd_update) == 192);
  STATIC_REQUIRE(offsetof(outrigger_host_api, unwatch_fd) == 200);
  // Minor 2: transfers owned by the instance, after the fd watches.
  STATIC_REQUIRE(offsetof(outrigger_host_api, instance_http_request) == 208);
  STATIC_REQUIRE(offsetof(outrigger_host_api, instance_http_cancel) == 216);
  STATIC_REQUIRE(offsetof(outrigger_host_api, instance_http_resume) == 224);
  // Minor 2, later: a plugin's attribute on its own span, after the instance transfers.
  STATIC_REQUIRE(offsetof(outrigger_host_api, span_attribute) == 232);
  // Then the breakers a fleet shares.
  STATIC_REQUIRE(offsetof(outrigger_host_api, breakers) == 240);
  STATIC_REQUIRE(offsetof(outrigger_host_api, breaker_open) == 248);
  // Then a model's token limits from the host's table.
  STATIC_REQUIRE(offsetof(outrigger_host_api, model_limits) == 256);
  STATIC_REQUIRE(sizeof(outrigger_host_api) == 264);
  STATIC_REQUIRE(sizeof(outrigger_model_limits) == 64);
  STATIC_REQUIRE(sizeof(outrigger_breaker_view) == 32);
  STATIC_REQUIRE(sizeof(outrigger_limiter_hooks) == 32);
  STATIC_REQUIRE(sizeof(outrigger_settlement) == 56);
  STATIC_REQUIRE(offsetof(outrigger_guardrail_hooks, on_cancel) == 32);
  STATIC_REQUIRE(offsetof(outrigger_guardrail_hooks, on_stream_end) == 40);
  STATIC_REQUIRE(offsetof(outrigger_guardrail_hooks, on_stream_restart) == 48);  // a later minor 2 tail
  STATIC_REQUIRE(offsetof(outrigger_guardrail_result, action) == 24);
  STATIC_REQUIRE(offsetof(outrigger_guardrail_action, deny_code) == 64);
  STATIC_REQUIRE(offsetof(outrigger_guardrail_action, max_tokens) == 68);
  STATIC_REQUIRE(offsetof(outrigger_guardrail_action, replace_max_tokens) == 72);
  STATIC_REQUIRE(sizeof(outrigger_guardrail_action) == 80);
  STATIC_REQUIRE(offsetof(outrigger_provider_hooks, resume) == 24);
  STATIC_REQUIRE(offsetof(outrigger_provider_hooks, embed) == 32);
  STATIC_REQUIRE(sizeof(outrigger_provider_hooks) == 40);
  STATIC_REQUIRE(offsetof(outrigger_embed_request_view, inputs) == 48);
  STATIC_REQUIRE(offsetof(outrigger_embed_request_view, dimensions) == 64);
  STATIC_REQUIRE(offsetof(outrigger_embed_request_view, metadata) == 72);
  STATIC_REQUIRE(offsetof(outrigger_embed_request_view, trace_id) == 104);
  STATIC_REQUIRE(offsetof(outrigger_embed_request_view, flags) == 120);  // minor 2 tail
  STATIC_REQUIRE(sizeof(outrigger_embed_request_view) == 128);
  STATIC_REQUIRE(sizeof(outrigger_embedding_view) == 16);
  STATIC_REQUIRE(offsetof(outrigger_embeddings_view, message) == 24);
  STATIC_REQUIRE(offsetof(outrigger_embeddings_view, embeddings) == 40);
  STATIC_REQUIRE(offsetof(outrigger_embeddings_view, usage) == 56);
  STATIC_REQUIRE(offsetof(outrigger_embeddings_view, model) == 80);
  STATIC_REQUIRE(sizeof(outrigger_embeddings_view) == 96);
  STATIC_REQUIRE(offsetof(outrigger_http_request, body) == 56);
  STATIC_REQUIRE(offsetof(outrigger_http_request, total_timeout_ms) == 84);
  STATIC_REQUIRE(offsetof(outrigger_http_result, body_bytes) == 32);
  STATIC_REQUIRE(offsetof(outrigger_http_sink, on_complete) == 24);
  // The record's 1.0 layout, and its minor 2 tail: span traces (a parallel array, so the span
  // element exporters index by their own sizeof never grows) and captured content.
  STATIC_REQUIRE(sizeof(outrigger_span_view) == 64);
  STATIC_REQUIRE(offsetof(outrigger_record_view, spans) == 184);
  STATIC_REQUIRE(offsetof(outrigger_record_view, verdict_count) == 208);
  STATIC_REQUIRE(offsetof(outrigger_record_view, root_span_id) == 216);
  STATIC_REQUIRE(offsetof(outrigger_record_view, root_parent_span_id) == 232);
  STATIC_REQUIRE(offsetof(outrigger_record_view, span_traces) == 248);
  STATIC_REQUIRE(offsetof(outrigger_record_view, span_trace_size) == 256);
  STATIC_REQUIRE(offsetof(outrigger_record_view, capture) == 264);
  STATIC_REQUIRE(offsetof(outrigger_record_view, prompt) == 272);
  STATIC_REQUIRE(offsetof(outrigger_record_view, prompt_count) == 280);
  STATIC_REQUIRE(offsetof(outrigger_record_view, answer) == 288);
  STATIC_REQUIRE(offsetof(outrigger_record_view, answer_tool_calls) == 304);
  STATIC_REQUIRE(offsetof(outrigger_record_view, answer_tool_call_count) == 312);
  // Cost accounting's tail: the prompt cache's writes and whether a price was missing.
  STATIC_REQUIRE(offsetof(outrigger_record_view, cache_write_tokens) == 320);
  STATIC_REQUIRE(offsetof(outrigger_record_view, cost_unpriced) == 324);
  STATIC_REQUIRE(sizeof(outrigger_record_view) == 328);
  STATIC_REQUIRE(offsetof(outrigger_response_view, cache_write_tokens) == OUTRIGGER_MIN_SIZE_RESPONSE_VIEW);
  // What the upstream said of its answer: a refusal, fingerprint and tier (response and chunk
  // views), and the stream's head on a chunk.
  STATIC_REQUIRE(offsetof(outrigger_response_view, response_id) == 136);
  STATIC_REQUIRE(offsetof(outrigger_response_view, flags) == 152);
  STATIC_REQUIRE(offsetof(outrigger_response_view, system_fingerprint) == 160);
  // A failure's own words from the upstream (error type and code).
  STATIC_REQUIRE(offsetof(outrigger_response_view, error_type) == 192);
  STATIC_REQUIRE(sizeof(outrigger_response_view) == 224);
  STATIC_REQUIRE(offsetof(outrigger_chunk_view, flags) == OUTRIGGER_MIN_SIZE_CHUNK_VIEW);
  STATIC_REQUIRE(offsetof(outrigger_chunk_view, model) == 56);
  STATIC_REQUIRE(sizeof(outrigger_chunk_view) == 104);
  STATIC_REQUIRE(sizeof(outrigger_attribute) == 32);
  STATIC_REQUIRE(offsetof(outrigger_span_trace_view, parent_span_id) == 16);
  STATIC_REQUIRE(offsetof(outrigger_span_trace_view, start_unix_ns) == 32);
  STATIC_REQUIRE(offsetof(outrigger_span_trace_view, attributes) == 40);
  STATIC_REQUIRE(offsetof(outrigger_span_trace_view, attribute_count) == 48);
  STATIC_REQUIRE(sizeof(outrigger_span_trace_view) == 56);
  // Minor 2: feedback, and the exporter hook that takes it.
  STATIC_REQUIRE(offsetof(outrigger_feedback_view, trace_id) == 8);
  STATIC_REQUIRE(offsetof(outrigger_feedback_view, score) == 24);
  STATIC_REQUIRE(offsetof(outrigger_feedback_view, comment) == 32);
  STATIC_REQUIRE(offsetof(outrigger_feedback_view, metadata) == 48);
  STATIC_REQUIRE(offsetof(outrigger_feedback_view, received_unix_ns) == 56);
  STATIC_REQUIRE(sizeof(outrigger_feedback_view) == 64);
  STATIC_REQUIRE(offsetof(outrigger_exporter_hooks, flush) == 16);
  STATIC_REQUIRE(offsetof(outrigger_exporter_hooks, export_feedback) == 24);
  STATIC_REQUIRE(sizeof(outrigger_exporter_hooks) == 32);
}

// ------------------------------------------------------------------ config schemas valijson cannot use

namespace {

std::string schemaError(std::string_view schema_json) {
  auto s = plugin::compileSchema(schema_json);
  REQUIRE_FALSE(s.ok());
  CHECK(s.status().code() == Code::kInvalidArgument);
  return s.status().message();
}

}  // namespace

TEST_CASE("a schema valijson cannot use is refused with INVALID_ARGUMENT instead of aborting") {
  CHECK(schemaError(R"({"properties": {"n": {"type": "int!!eger"}}})").find("not valid JSON Schema") !=
        std::string::npos);
  CHECK(schemaError(R"({"$ref": "#/definitions/missing"})").find("not valid JSON Schema") != std::string::npos);
}

TEST_CASE("a $ref that leads only to itself is refused, where valijson recursed until the stack overflowed") {
  CHECK(schemaError(R"({"$ref": "#"})").find("refers to itself only") != std::string::npos);
  CHECK(schemaError(R"({"definitions": {"a": {"$ref": "#/definitions/b"}, "b": {"$ref": "#/definitions/a"}},
                        "$ref": "#/definitions/a"})")
            .find("refers to itself only") != std::string::npos);
  CHECK(schemaError(R"({"allOf": [{"$ref": "#/allOf/1"}, {"$ref": "#/allOf/0/"}]})").find("refers to itself only") !=
        std::string::npos);
  CHECK(schemaError(R"({"definitions": {"a/b": {"$ref": "#/definitions/a~1b"}}, "$ref": "#/definitions/a~1b"})")
            .find("refers to itself only") != std::string::npos);
  CHECK(schemaError(R"({"$ref": "#)" + std::string(60000, '/') + R"("})").find("'/'") != std::string::npos);

  // A cycle through keywords that apply to the same value never ends either (found by schema_fuzz).
  CHECK(schemaError(R"({"allOf":[{"+$ref":"#/allOf/2"},{"$ref":"#////////"}]})").find("applies a schema to the same value") !=
        std::string::npos);
  CHECK(schemaError(R"({"definitions": {"a": {"anyOf": [{"$ref": "#/definitions/b"}]}, "b": {"not": {"$ref": "#/definitions/a"}}},
                        "$ref": "#/definitions/a"})")
            .find("applies a schema to the same value") != std::string::npos);
  // A schema dependency applies to the object itself: through one back to the root is a cycle.
  CHECK(schemaError(R"({"dependencies": {"a": {"$ref": "#"}}})").find("applies a schema to the same value") !=
        std::string::npos);
  CHECK(plugin::compileSchema(R"({"dependencies": {"a": ["b"], "c": {"required": ["d"]}}})").ok());

  // What valijson reads otherwise than the guards: a relative id (the base of every $ref, grown
  // at each pass through a recursive one), "%zz" (decoded as NUL), a document before '#', and
  // multipleOf in a string (read as a number).
  CHECK(schemaError(R"({"id": "a", "items": {"$ref": "#"}})").find("\"id\"") != std::string::npos);
  CHECK(plugin::compileSchema(R"({"properties": {"id": {"type": "string"}}})").ok());
  CHECK(schemaError(R"({"allOf": [{"$ref": "#/%zz"}], "\u0000": {"allOf": [{"$ref": "#/%zz"}]}})").find("'%'") !=
        std::string::npos);
  CHECK(schemaError(R"({"items": {"$ref": "urn:a:b"}})").find("'#'") != std::string::npos);
  CHECK(schemaError(R"({"properties": {"n": {"multipleOf": "0"}}})").find("multipleOf") != std::string::npos);

  // valijson reads "1x" as index 1, so this refers to itself too.
  CHECK(schemaError(R"({"allOf":[{"x":0},{"$ref":"#/allOf/1x"}]})").find("refers to itself only") != std::string::npos);

  // valijson divides by multipleOf: 0 (or less) is refused before an integer value meets it.
  CHECK(schemaError(R"({"properties": {"n": {"type": "integer", "multipleOf": 0}}})").find("multipleOf") !=
        std::string::npos);
  CHECK(plugin::compileSchema(R"({"properties": {"multipleOf": {"type": "integer", "multipleOf": 2}}})").ok());

  // Recursion through a keyword is a recursive schema, not a cycle.
  auto tree = plugin::compileSchema(
      R"({"type": "object", "properties": {"child": {"$ref": "#"}, "n": {"type": "integer"}}})");
  REQUIRE(tree.ok());
  CHECK(plugin::validateConfig(**tree, R"({"child": {"child": {"n": 1}}})", {}).isOk());
  CHECK_FALSE(plugin::validateConfig(**tree, R"({"child": {"child": {"n": "x"}}})", {}).isOk());
}

TEST_CASE("a pattern std::regex refuses makes validation fail with INVALID_ARGUMENT instead of throwing") {
  auto s = plugin::compileSchema(R"({"properties": {"a": {"type": "string", "pattern": "("}}})");
  REQUIRE(s.ok());  // valijson compiles patterns only when a string meets them
  Status v = plugin::validateConfig(**s, R"({"a": "x"})", {});
  CHECK(v.code() == Code::kInvalidArgument);
  CHECK(v.message().find("cannot be checked against the schema") != std::string::npos);
  CHECK(plugin::validateConfig(**s, R"({})", {}).isOk());
}

TEST_CASE("a long value checked against a pattern neither overflows the stack nor goes unchecked") {
  // std::regex recurses once per character: 30,000 of them overflowed an 8 MiB stack.
  auto s = plugin::compileSchema(R"({"properties": {"key": {"type": "string", "pattern": "^(tenant|tag:.+)$"}}})");
  REQUIRE(s.ok());
  auto config = [](size_t n) { return R"({"key": "tag:)" + std::string(n, 'x') + R"("})"; };
#ifdef __SANITIZE_THREAD__
  constexpr size_t kLong = 2000;  // ThreadSanitizer's own shadow call stack is shorter than this recursion
#else
  constexpr size_t kLong = 60000;
#endif
  CHECK(plugin::validateConfig(**s, config(kLong), {}).isOk());
  Status bad = plugin::validateConfig(**s, R"({"key": "tog:)" + std::string(kLong, 'x') + R"("})", {});
  CHECK(bad.code() == Code::kInvalidArgument);
  CHECK(bad.message().find("config/key") != std::string::npos);
  Status too_long = plugin::validateConfig(**s, config(70000), {});
  CHECK(too_long.code() == Code::kInvalidArgument);
  CHECK(too_long.message().find("longer than 65536 bytes") != std::string::npos);
  // Malformed UTF-8 is refused before valijson counts characters (it read past a table on it).
  auto sized = plugin::compileSchema(R"({"properties": {"key": {"type": "string", "maxLength": 3}}})");
  REQUIRE(sized.ok());
  Status bytes = plugin::validateConfig(**sized, std::string("{\"key\": \"\xc3") + std::string(90, '\x80') + "\"}", {});
  CHECK(bytes.code() == Code::kInvalidArgument);
  CHECK(bytes.message().find("not valid UTF-8") != std::string::npos);
  // Without patterns in the schema there is no such bound.
  auto plain = plugin::compileSchema(R"({"properties": {"key": {"type": "string"}}})");
  REQUIRE(plain.ok());
  CHECK(plugin::validateConfig(**plain, config(200000), {}).isOk());
}
