#include "chain/plugin_text.h"

#include <initializer_list>
#include <string_view>

#include "common/message_roles.h"
#include "common/utf8.h"

namespace outrigger::chain {
namespace {

// Text with NULL `data` and a size is refused as the plugin guide says, like text that is not
// UTF-8: the host's copies read `size` bytes from `data`.
bool utf8(outrigger_str s) { return s.size == 0 || (s.data && validUtf8(std::string_view(s.data, s.size))); }

bool all(std::initializer_list<outrigger_str> texts) {
  for (outrigger_str s : texts) {
    if (!utf8(s)) return false;
  }
  return true;
}

bool toolCalls(const outrigger_tool_call_view* calls, size_t count) {
  for (size_t i = 0; calls && i < count; ++i) {
    if (!all({calls[i].id, calls[i].type, calls[i].name, calls[i].arguments})) return false;
  }
  return true;
}

bool messages(const outrigger_message_view* list, size_t count) {
  for (size_t i = 0; list && i < count; ++i) {
    const auto& m = list[i];
    if (!all({m.role, m.content, m.name, m.tool_call_id}) || !toolCalls(m.tool_calls, m.tool_call_count)) return false;
  }
  return true;
}

bool roles(const outrigger_message_view* list, size_t count) {
  for (size_t i = 0; list && i < count; ++i) {
    const outrigger_str role = list[i].role;
    if (role.size > 0 && (!role.data || !knownMessageRole(std::string_view(role.data, role.size)))) return false;
  }
  return true;
}

}  // namespace

bool answerTextIsUtf8(const outrigger_response_view& a) {
  return all({a.message, a.content, a.finish_reason, a.model, a.response_id, a.system_fingerprint, a.service_tier,
              a.error_type, a.error_code}) &&
         toolCalls(a.tool_calls, a.tool_call_count);
}

bool chunkTextIsUtf8(const outrigger_chunk_view& c) {
  if (!all({c.delta, c.model, c.system_fingerprint, c.service_tier})) return false;
  for (size_t i = 0; c.tool_calls && i < c.tool_call_count; ++i) {
    const auto& d = c.tool_calls[i];
    if (!all({d.id, d.type, d.name, d.arguments})) return false;
  }
  return true;
}

bool modelCallTextIsUtf8(const outrigger_model_call& call) {
  if (!messages(call.messages, call.message_count)) return false;
  for (size_t i = 0; call.inputs && i < call.input_count; ++i) {
    if (!utf8(call.inputs[i])) return false;
  }
  const outrigger_params_view* p = call.params;
  if (!p) return true;
  for (size_t i = 0; p->stop && i < p->stop_count; ++i) {
    if (!utf8(p->stop[i])) return false;
  }
  for (size_t i = 0; p->tools && i < p->tool_count; ++i) {
    if (!all({p->tools[i].type, p->tools[i].name, p->tools[i].description, p->tools[i].parameters_json})) return false;
  }
  return all({p->tool_choice, p->response_schema_name, p->response_schema_json, p->extra_json});
}

std::string repairedText(std::string_view text) {
  return validUtf8(text) ? std::string(text) : utf8Replaced(text);
}

bool actionTextIsUtf8(const outrigger_guardrail_action& a) {
  return messages(a.messages, a.message_count) && utf8(a.content) && toolCalls(a.tool_calls, a.tool_call_count);
}

bool actionRolesAreKnown(const outrigger_guardrail_action& a) { return roles(a.messages, a.message_count); }

bool modelCallRolesAreKnown(const outrigger_model_call& call) { return roles(call.messages, call.message_count); }

}  // namespace outrigger::chain
