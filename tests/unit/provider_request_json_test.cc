// The provider plugins read the JSON a request carries safely themselves, whoever calls them:
// loaded through the real loader and called in-process with a fake host (no chain in front to
// check the request first), request JSON nested past 128 levels is answered INVALID_ARGUMENT,
// never sent, never a crash.
#include <catch2/catch.hpp>

#include <outrigger/plugin.hpp>

#include <string>

#include "plugin/loader.h"

using namespace outrigger;

namespace {

std::string nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }
const std::string kDeep = nested(100000);
const std::string kDeepObject = "{\"vendor\":" + kDeep + "}";

// What the plugin told its host.
struct Seen {
  int done = 0;
  outrigger_code code = OUTRIGGER_CODE_OK;
  std::string message;
  int http_requests = 0;
};
Seen g_seen;

outrigger_host_api fakeHost() {
  outrigger_host_api api{};
  api.hdr = OUTRIGGER_HEADER_INIT(outrigger_host_api);
  api.log = [](void*, outrigger_log_level, outrigger_str) noexcept {};
  api.now_ns = [](void*) noexcept -> uint64_t { return 0; };
  api.provider_chunk = [](void*, outrigger_request, const outrigger_chunk_view*) noexcept -> outrigger_status {
    return OUTRIGGER_OK;
  };
  api.provider_done = [](void*, outrigger_request, const outrigger_response_view* r) noexcept -> outrigger_status {
    ++g_seen.done;
    g_seen.code = r->code;
    g_seen.message = std::string(plugin::view(r->message));
    return OUTRIGGER_OK;
  };
  api.embeddings_done = [](void*, outrigger_request, const outrigger_embeddings_view* e) noexcept -> outrigger_status {
    ++g_seen.done;
    g_seen.code = e->code;
    g_seen.message = std::string(plugin::view(e->message));
    return OUTRIGGER_OK;
  };
  api.http_request = [](void*, outrigger_request, const outrigger_http_request*, const outrigger_http_sink*, void*,
                        uint64_t* id) noexcept -> outrigger_status {
    ++g_seen.http_requests;
    *id = 1;
    return OUTRIGGER_OK;
  };
  api.http_cancel = [](void*, outrigger_request, uint64_t) noexcept -> outrigger_status { return OUTRIGGER_OK; };
  api.http_resume = [](void*, outrigger_request, uint64_t) noexcept -> outrigger_status { return OUTRIGGER_OK; };
  return api;
}

// One provider instance from a built-in .so.
class InProcessProvider {
 public:
  InProcessProvider(const std::string& library, const std::string& config) {
    auto types = plugin::loadLibrary(std::string(OUTRIGGER_PLUGIN_DIR) + "/" + library);
    REQUIRE(types.ok());
    type_ = types->at(0)->c_type;
    outrigger_error err{};
    REQUIRE(type_->create(&api_, plugin::str("p"), plugin::str(config), &instance_, &err) == OUTRIGGER_OK);
    hooks_ = static_cast<const outrigger_provider_hooks*>(type_->hooks);
  }
  ~InProcessProvider() { type_->destroy(instance_); }

  // Starts a chat call; the plugin must answer before returning (no timers, no transfer).
  Seen start(const outrigger_request_view& request) {
    g_seen = {};
    CHECK(hooks_->start(instance_, &request) == OUTRIGGER_PENDING);
    return g_seen;
  }
  Seen embed(const outrigger_embed_request_view& request) {
    g_seen = {};
    CHECK(hooks_->embed(instance_, &request) == OUTRIGGER_PENDING);
    return g_seen;
  }

 private:
  outrigger_host_api api_ = fakeHost();
  const outrigger_plugin_type* type_ = nullptr;
  void* instance_ = nullptr;
  const outrigger_provider_hooks* hooks_ = nullptr;
};

// A one-message request whose params `p` the caller fills.
struct Request {
  outrigger_message_view message{plugin::str("user"), plugin::str("hi"), {}, {}, nullptr, 0};
  outrigger_params_view params{};
  outrigger_request_view view{};
  Request() {
    view.hdr = OUTRIGGER_HEADER_INIT(outrigger_request_view);
    view.model = plugin::str("m");
    view.messages = &message;
    view.message_count = 1;
    view.params = &params;
  }
};

void expectRefused(const Seen& seen, const std::string& field) {
  CHECK(seen.done == 1);
  CHECK(seen.code == OUTRIGGER_CODE_INVALID_ARGUMENT);
  CHECK(seen.message == field + ": JSON nested deeper than 128 levels");
  CHECK(seen.http_requests == 0);
}

}  // namespace

TEST_CASE("deep json in-process: the mock refuses extras nested past the limit, for chat and embeddings") {
  InProcessProvider mock("provider_mock.so", R"({"mode":"echo","allow_request_overrides":true})");
  Request r;
  r.params.extra_json = plugin::str(kDeepObject);
  expectRefused(mock.start(r.view), "params.extra_json");
  r.params.extra_json = plugin::str(R"({"mock":{"text":"fine"}})");
  Seen ok = mock.start(r.view);
  CHECK(ok.done == 1);
  CHECK(ok.code == OUTRIGGER_CODE_OK);

  outrigger_str input = plugin::str("text");
  outrigger_embed_request_view e{};
  e.hdr = OUTRIGGER_HEADER_INIT(outrigger_embed_request_view);
  e.inputs = &input;
  e.input_count = 1;
  e.extra_json = plugin::str(kDeepObject);
  expectRefused(mock.embed(e), "extra_json");
}

TEST_CASE("deep json in-process: the openai provider refuses each JSON field nested past the limit unsent") {
  InProcessProvider openai("provider_openai.so", R"({"base_url":"http://127.0.0.1:9/v1"})");
  {
    Request r;
    r.params.extra_json = plugin::str(kDeepObject);
    expectRefused(openai.start(r.view), "params.extra_json");
  }
  {
    Request r;
    outrigger_tool_view tools[2] = {{plugin::str("function"), plugin::str("ok"), {}, plugin::str("{}")},
                                    {plugin::str("function"), plugin::str("deep"), {}, plugin::str(kDeep)}};
    r.params.tools = tools;
    r.params.tool_count = 2;
    expectRefused(openai.start(r.view), "params.tools[1].parameters_json");
  }
  {
    Request r;
    r.params.response_format = OUTRIGGER_FORMAT_JSON_SCHEMA;
    r.params.response_schema_json = plugin::str(kDeep);
    expectRefused(openai.start(r.view), "params.response_format.schema_json");
  }
  {
    Request r;
    std::string choice = "{\"function\":" + kDeep + "}";
    r.params.tool_choice = plugin::str(choice);
    expectRefused(openai.start(r.view), "params.tool_choice");
  }
  outrigger_str input = plugin::str("text");
  outrigger_embed_request_view e{};
  e.hdr = OUTRIGGER_HEADER_INIT(outrigger_embed_request_view);
  e.inputs = &input;
  e.input_count = 1;
  e.extra_json = plugin::str(kDeepObject);
  expectRefused(openai.embed(e), "extra_json");
}

TEST_CASE("deep json in-process: the anthropic provider refuses each JSON field nested past the limit unsent") {
  InProcessProvider claude("provider_anthropic.so", R"({"base_url":"http://127.0.0.1:9"})");
  {
    Request r;
    r.params.extra_json = plugin::str(kDeepObject);
    expectRefused(claude.start(r.view), "params.extra_json");
  }
  {
    Request r;
    outrigger_tool_view tool{plugin::str("function"), plugin::str("deep"), {}, plugin::str(kDeep)};
    r.params.tools = &tool;
    r.params.tool_count = 1;
    expectRefused(claude.start(r.view), "params.tools[0].parameters_json");
  }
  {
    Request r;
    outrigger_tool_call_view call{plugin::str("c1"), plugin::str("function"), plugin::str("f"), plugin::str(kDeep)};
    outrigger_message_view msgs[2] = {{plugin::str("user"), plugin::str("hi"), {}, {}, nullptr, 0},
                                      {plugin::str("assistant"), {}, {}, {}, &call, 1}};
    r.view.messages = msgs;
    r.view.message_count = 2;
    expectRefused(claude.start(r.view), "messages[1].tool_calls[0].arguments");
  }
}

// RapidJSON asserts (aborting a debug daemon) on GetInt() of a uint above INT32_MAX; the mock read
// cut_after_chunks that way.
TEST_CASE("mock in-process: a cut_after_chunks beyond the int range streams the whole answer") {
  InProcessProvider mock("provider_mock.so", R"({"mode":"echo","allow_request_overrides":true})");
  Request r;
  r.params.extra_json = plugin::str(R"({"mock":{"text":"whole","cut_after_chunks":3000000000}})");
  Seen seen = mock.start(r.view);
  CHECK(seen.done == 1);
  CHECK(seen.code == OUTRIGGER_CODE_OK);
}
