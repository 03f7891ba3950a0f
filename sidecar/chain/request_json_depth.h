// The chain refuses a request whose JSON-carrying text fields nest deeper than json::kMaxDepth,
// before any plugin sees it. Those fields travel as text (a socket client writes them, and the
// HTTP front re-serialises them), and providers, guardrails and encoders parse them; refusing
// here keeps a too-deep text from ever reaching a parser that might not be bounded.
#pragma once

#include <outrigger/plugin.h>

#include <string>

#include "chain/engine.h"

namespace outrigger::chain {

// The first field of `request` whose JSON nests too deeply, as "<field>: JSON nested deeper than
// 128 levels" (e.g. "params.tools[2].parameters_json: ..."); empty when none does. Checks
// messages[i].tool_calls[j].arguments, params.tools[i].parameters_json, params.tool_choice,
// params.response_format.schema_json and params.extra_json. Text that is not JSON is not
// refused here: the plugins decide what to do with it.
[[nodiscard]] std::string tooDeepJsonField(const outrigger_request_view& request);

// The same for an embeddings request: its extra_json.
[[nodiscard]] std::string tooDeepJsonField(const EmbedInput& embed);

}  // namespace outrigger::chain
