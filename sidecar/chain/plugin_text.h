// Whether the text a plugin hands the host is UTF-8. Callers' JSON and SDKs need it, and a record
// or span that carries a bad string costs an exporter its batch (a collector refuses protobuf
// strings that are not UTF-8). The providers in this repository check their upstreams' answers;
// these hold every plugin, a third party's included, to the same at the ABI boundary.
#pragma once

#include <outrigger/plugin.h>

#include <string>
#include <string_view>

namespace outrigger::chain {

// An answer (provider_done, cache_done): its message, content, finish reason, model, tool calls
// and the upstream's ids, as far as the view's copy holds them.
bool answerTextIsUtf8(const outrigger_response_view& answer);
// A chunk's delta, tool call deltas and the upstream's names.
bool chunkTextIsUtf8(const outrigger_chunk_view& chunk);
// What a guardrail's REWRITE or re-ask carries: messages, content and tool calls.
bool actionTextIsUtf8(const outrigger_guardrail_action& action);
// What a plugin's complete/embed sends to a route: messages, parameters' text and inputs. Refused
// otherwise (E_INVALID), as a caller's request with such text is at the fronts.
bool modelCallTextIsUtf8(const outrigger_model_call& call);

// The roles of the messages a REWRITE or re-ask, or a call to a route, puts in a conversation:
// each one the fronts take from callers (common/message_roles.h), or none, as a caller's message
// may have none. Refused otherwise (E_INVALID): a provider would read another role as "user".
bool actionRolesAreKnown(const outrigger_guardrail_action& action);
bool modelCallRolesAreKnown(const outrigger_model_call& call);

// Free text a plugin explains itself with (a verdict's or a limiter's reason, an end's message),
// with bytes that are not UTF-8 replaced by U+FFFD: it is passed on, not refused.
std::string repairedText(std::string_view text);

}  // namespace outrigger::chain
