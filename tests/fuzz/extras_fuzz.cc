// libFuzzer target for the JSON a request carries as text (params.extra_json first): arbitrary
// bytes become the extras, tool parameters, response schema, tool_choice and tool call arguments
// of requests the OpenAI and Anthropic providers turn into upstream bodies, and the extras of the
// mock provider (compiled in, driven through its plugin entry with a host that runs no timers).
// Besides not crashing, a body is refused exactly when the chain's own check (json::nestsTooDeep)
// would have refused the text, and every body that is built is valid JSON.
#include <outrigger/plugin.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "anthropic_wire.h"
#include "bounded_json.h"
#include "openai_wire.h"

extern "C" const outrigger_plugin_entry* outrigger_plugin_entry_v1(void);  // mock_provider.cc

namespace {

namespace oai = outrigger::providers::openai;
namespace ant = outrigger::providers::anthropic;
using outrigger::plugin::str;

// A built body may nest a few levels deeper than what it embeds, so it is checked with the
// iterative reader alone (no DOM, no depth bound): valid JSON is what the upstream must get.
void expectJson(const std::string& body) {
  rapidjson::StringStream in(body.c_str());
  rapidjson::BaseReaderHandler<> ignore;
  rapidjson::Reader reader;
  if (reader.Parse<rapidjson::kParseIterativeFlag>(in, ignore).IsError()) __builtin_trap();
}

// Building a body must fail exactly when `text` nests too deeply, and a built body must parse.
template <typename Build>
void expectConsistent(Build build, bool too_deep) {
  std::string body;
  outrigger::providers::Failure refused;
  bool built = build(&body, &refused);
  if (built == too_deep) __builtin_trap();
  if (built) expectJson(body);
  else if (refused.code != OUTRIGGER_CODE_INVALID_ARGUMENT) __builtin_trap();
}

outrigger_host_api timerlessHost() {
  outrigger_host_api api{};
  api.hdr = OUTRIGGER_HEADER_INIT(outrigger_host_api);
  api.log = [](void*, outrigger_log_level, outrigger_str) noexcept {};
  api.now_ns = [](void*) noexcept -> uint64_t { return 0; };
  api.set_timer = [](void*, outrigger_request, uint32_t, outrigger_callback, void*) noexcept -> outrigger_status {
    return OUTRIGGER_E_UNSUPPORTED;  // latency and intervals end the mock's job at once
  };
  api.provider_chunk = [](void*, outrigger_request, const outrigger_chunk_view*) noexcept -> outrigger_status {
    return OUTRIGGER_OK;
  };
  api.provider_done = [](void*, outrigger_request, const outrigger_response_view*) noexcept -> outrigger_status {
    return OUTRIGGER_OK;
  };
  api.embeddings_done = [](void*, outrigger_request, const outrigger_embeddings_view*) noexcept -> outrigger_status {
    return OUTRIGGER_OK;
  };
  return api;
}

// One mock instance for the whole run, created like the host would.
struct Mock {
  outrigger_host_api api = timerlessHost();
  const outrigger_plugin_type* type = outrigger_plugin_entry_v1()->types[0];
  const outrigger_provider_hooks* hooks = static_cast<const outrigger_provider_hooks*>(type->hooks);
  void* instance = nullptr;
  Mock() {
    outrigger_error err{};
    if (type->create(&api, str("mock"), str(R"({"allow_request_overrides": true})"), &instance, &err) != OUTRIGGER_OK) {
      __builtin_trap();
    }
  }
};

void driveMock(const outrigger_request_view& chat, const outrigger_embed_request_view& embed) {
  static Mock mock;
  mock.hooks->start(mock.instance, &chat);
  mock.hooks->cancel(mock.instance, chat.handle);  // a hanging job is dropped, as the deadline would
  mock.hooks->embed(mock.instance, &embed);
  mock.hooks->cancel(mock.instance, embed.handle);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  bool too_deep = outrigger::json::nestsTooDeep(text);
  outrigger_str fuzz{text.data(), text.size()};

  outrigger_message_view user{str("user"), str("hi"), {}, {}, nullptr, 0};
  outrigger_params_view extras{};
  extras.extra_json = fuzz;
  outrigger_request_view request{};
  request.hdr = OUTRIGGER_HEADER_INIT(outrigger_request_view);
  request.model = str("m");
  request.messages = &user;
  request.message_count = 1;
  request.params = &extras;
  expectConsistent([&](std::string* b, outrigger::providers::Failure* f) { return oai::buildChatRequest(request, {}, b, f); },
                   too_deep);
  expectConsistent([&](std::string* b, outrigger::providers::Failure* f) { return ant::buildMessagesRequest(request, {}, b, f); },
                   too_deep);

  outrigger_str input = str("text");
  outrigger_embed_request_view embed{};
  embed.hdr = OUTRIGGER_HEADER_INIT(outrigger_embed_request_view);
  embed.model = str("m");
  embed.inputs = &input;
  embed.input_count = 1;
  embed.extra_json = fuzz;
  expectConsistent([&](std::string* b, outrigger::providers::Failure* f) { return oai::buildEmbeddingsRequest(embed, {}, b, f); },
                   too_deep);

  // The same text in every other field that carries JSON.
  outrigger_tool_call_view call{str("c1"), str("function"), str("f"), fuzz};
  outrigger_message_view turns[2] = {user, {str("assistant"), {}, {}, {}, &call, 1}};
  outrigger_tool_view tool{str("function"), str("f"), {}, fuzz};
  outrigger_params_view fields{};
  fields.tools = &tool;
  fields.tool_count = 1;
  fields.tool_choice = text.empty() || text.front() != '{' ? outrigger_str{} : fuzz;
  fields.response_format = OUTRIGGER_FORMAT_JSON_SCHEMA;
  fields.response_schema_json = fuzz;
  outrigger_request_view carrying = request;
  carrying.messages = turns;
  carrying.message_count = 2;
  carrying.params = &fields;
  expectConsistent([&](std::string* b, outrigger::providers::Failure* f) { return oai::buildChatRequest(carrying, {}, b, f); },
                   too_deep);
  expectConsistent([&](std::string* b, outrigger::providers::Failure* f) { return ant::buildMessagesRequest(carrying, {}, b, f); },
                   too_deep);

  driveMock(request, embed);
  return 0;
}
