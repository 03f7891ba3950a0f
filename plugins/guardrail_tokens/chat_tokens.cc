#include "chat_tokens.h"

namespace outrigger::tokens {
namespace {

std::string_view sv(outrigger_str s) { return s.size ? std::string_view(s.data, s.size) : std::string_view(); }

}  // namespace

bool isSystemRole(std::string_view role) { return role == "system" || role == "developer"; }

uint64_t messageTokens(const BpeEncoding& enc, const outrigger_message_view& m) {
  uint64_t n = kTokensPerMessage + enc.count(sv(m.role)) + enc.count(sv(m.content));
  if (m.name.size) n += kTokensPerName + enc.count(sv(m.name));
  if (m.tool_call_id.size) n += enc.count(sv(m.tool_call_id));
  for (size_t i = 0; m.tool_calls && i < m.tool_call_count; ++i) {
    n += enc.count(sv(m.tool_calls[i].name)) + enc.count(sv(m.tool_calls[i].arguments));
  }
  return n;
}

PromptCount countPrompt(const BpeEncoding& enc, const outrigger_request_view& req) {
  PromptCount c;
  c.per_message.reserve(req.message_count);
  for (size_t i = 0; i < req.message_count; ++i) {
    c.per_message.push_back(messageTokens(enc, req.messages[i]));
    c.total += c.per_message.back();
  }
  const outrigger_params_view* p = req.params;
  for (size_t i = 0; p && p->tools && i < p->tool_count; ++i) {
    const outrigger_tool_view& t = p->tools[i];
    c.tools += enc.count(sv(t.name)) + enc.count(sv(t.description)) + enc.count(sv(t.parameters_json));
  }
  c.total += c.tools + kReplyPriming;
  return c;
}

uint64_t promptTokensUpperBound(const outrigger_request_view& req) {
  uint64_t n = kReplyPriming;
  for (size_t i = 0; i < req.message_count; ++i) {
    const outrigger_message_view& m = req.messages[i];
    n += kTokensPerMessage + m.role.size + m.content.size + m.tool_call_id.size;
    if (m.name.size) n += kTokensPerName + m.name.size;
    for (size_t j = 0; m.tool_calls && j < m.tool_call_count; ++j) n += m.tool_calls[j].name.size + m.tool_calls[j].arguments.size;
  }
  const outrigger_params_view* p = req.params;
  for (size_t i = 0; p && p->tools && i < p->tool_count; ++i) {
    n += p->tools[i].name.size + p->tools[i].description.size + p->tools[i].parameters_json.size;
  }
  return n;
}

uint64_t answerTokens(const BpeEncoding& enc, const outrigger_response_view& resp) {
  uint64_t n = enc.count(sv(resp.content));
  for (size_t i = 0; resp.tool_calls && i < resp.tool_call_count; ++i) {
    n += enc.count(sv(resp.tool_calls[i].name)) + enc.count(sv(resp.tool_calls[i].arguments));
  }
  return n;
}

bool planTrim(const outrigger_request_view& req, const PromptCount& count, uint64_t budget, TrimPlan* plan) {
  const size_t n = req.message_count;
  std::vector<bool> dropped(n, false);
  uint64_t total = count.total;
  size_t drops = 0;
  auto role = [&](size_t i) { return sv(req.messages[i].role); };
  auto isToolResult = [&](size_t i) { return role(i) == "tool" || role(i) == "function"; };
  // The first non-system message still kept, or n. Only that message is ever dropped, so the
  // search goes on from where it last stopped: one pass over the messages in all, not one per drop.
  size_t first_kept = 0;
  auto firstKept = [&] {
    while (first_kept < n && (dropped[first_kept] || isSystemRole(role(first_kept)))) ++first_kept;
    return first_kept;
  };
  auto drop = [&](size_t i) {
    dropped[i] = true;
    total -= count.per_message[i];
    ++drops;
  };
  while (total > budget) {
    size_t oldest = firstKept();
    if (n == 0 || oldest >= n - 1) return false;  // only the last message (and system ones) left
    drop(oldest);
    // Tool results answer an assistant turn now dropped: a provider refuses them without it.
    for (size_t i = firstKept(); i < n - 1 && isToolResult(i); i = firstKept()) drop(i);
    // The last message is such a result: it cannot go, and cannot stay without its call.
    if (firstKept() < n && isToolResult(firstKept())) return false;
  }
  plan->keep.clear();
  for (size_t i = 0; i < n; ++i) {
    if (!dropped[i]) plan->keep.push_back(i);
  }
  plan->total = total;
  plan->dropped = drops;
  return true;
}

}  // namespace outrigger::tokens
