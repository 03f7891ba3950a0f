// The C views plugins read, built from a request's own storage (a wire frame, or a CallInput)
// into the request's arena. Everything points into that storage or the arena: nothing copied.
#pragma once

#include <cstdint>
#include <memory_resource>
#include <string_view>

#include <outrigger/plugin.h>

#include "chain/call_input.h"

namespace outrigger::wire { struct Request; }

namespace outrigger::chain {

struct RequestViews {
  outrigger_message_view* messages = nullptr;
  size_t message_count = 0;
  outrigger_params_view params{};
  outrigger_metadata_view metadata{};
  std::string_view model;  // as the caller named it
  uint32_t timeout_ms = 0;
  bool stream = false;
  bool cache_bypass = false, cache_no_store = false;
  uint32_t cache_ttl_ms = 0;
};

RequestViews viewsOf(const wire::Request& request, std::pmr::memory_resource* arena);
RequestViews viewsOf(const CallInput& input, std::pmr::memory_resource* arena);

// The prompt's size in tokens, estimated as its text bytes (content, tool call names and
// arguments) / 4, rounded up: what limits charge for a model whose encoding is unknown
// (chain/prompt_tokens.h counts the others exactly); the answer's usage corrects it.
uint64_t promptTokenEstimate(const outrigger_request_view& view);

}  // namespace outrigger::chain
