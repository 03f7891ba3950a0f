// libFuzzer target for the HTTP front's request bodies: arbitrary bytes go through the Chat
// Completions, Responses, Messages and embeddings translators. Besides not crashing, every JSON text a
// translator re-serialises for the chain (extra fields, tool parameters, the response schema,
// tool_use input) must parse again within json::kMaxDepth: the chain and the providers rely on it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "bounded_json.h"
#include "http/chat_request.h"
#include "http/messages_request.h"
#include "http/responses_request.h"
#include "outrigger_generated.h"

namespace {

namespace w = outrigger::wire;

void expectBoundedJson(const flatbuffers::String* text) {
  if (!text) return;
  rapidjson::Document d;
  if (!outrigger::json::parse(text->string_view(), &d)) __builtin_trap();
}

void checkRequest(const outrigger::http::ChatCall& call) {
  const w::Request* r = call.request;
  if (!r) __builtin_trap();
  const w::Params* p = r->params();
  if (!p) return;
  expectBoundedJson(p->extra_json());
  if (const auto* tools = p->tools()) {
    for (const auto* t : *tools) expectBoundedJson(t->parameters_json());
  }
  if (const auto* rf = p->response_format()) expectBoundedJson(rf->schema_json());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  outrigger::http::CallMetadata meta;
  {
    outrigger::http::ChatCall call;
    outrigger::http::RequestError error;
    if (outrigger::http::buildChatCall(body, meta, &call, &error)) checkRequest(call);
  }
  {
    // The Responses translator writes a Chat Completions body from caller JSON and builds that.
    outrigger::http::ChatCall call;
    outrigger::http::RequestError error;
    if (outrigger::http::buildResponsesCall(body, meta, &call, &error)) checkRequest(call);
  }
  {
    outrigger::http::ChatCall call;
    outrigger::http::RequestError error;
    if (outrigger::http::buildMessagesCall(body, meta, &call, &error)) {
      checkRequest(call);
      // Tool calls here were written from tool_use input (OpenAI's arguments are caller text).
      for (const auto* m : *call.request->messages()) {
        if (const auto* calls = m->tool_calls()) {
          for (const auto* c : *calls) expectBoundedJson(c->arguments());
        }
      }
    }
  }
  {
    outrigger::http::ChatCall call;
    outrigger::http::RequestError error;
    if (outrigger::http::buildEmbeddingsCall(body, meta, &call, &error) && call.embed &&
        !call.embed->extra_json.empty()) {
      rapidjson::Document d;
      if (!outrigger::json::parse(call.embed->extra_json, &d)) __builtin_trap();
    }
  }
  return 0;
}
