#include "telemetry/record_content.h"

#include "chain/owned_messages.h"

namespace outrigger::telemetry {
namespace {

// The messages' shape: roles, names, tool call ids, types and names; no text, no arguments.
std::shared_ptr<const chain::OwnedMessages> shapeOf(const outrigger_message_view* messages, size_t count) {
  std::vector<outrigger_message_view> shapes(messages, messages + count);
  std::vector<std::vector<outrigger_tool_call_view>> calls(count);
  for (size_t i = 0; i < count; ++i) {
    shapes[i].content = {nullptr, 0};
    calls[i].assign(messages[i].tool_calls, messages[i].tool_calls + messages[i].tool_call_count);
    for (auto& c : calls[i]) c.arguments = {nullptr, 0};
    shapes[i].tool_calls = calls[i].empty() ? nullptr : calls[i].data();
  }
  return std::make_shared<chain::OwnedMessages>(
      std::initializer_list<chain::OwnedMessages::List>{{shapes.data(), shapes.size()}});
}

}  // namespace

void captureContent(RequestRecord* r, config::Capture capture, const outrigger_message_view* messages,
                    size_t message_count, std::string_view answer, const std::vector<ToolCall>& tool_calls,
                    CaptureLimits limits) {
  // A prompt the guardrails did not vet keeps its shape only, and the record says so: readers
  // (eval capture, the trace views) take "full" to mean the prompt's text is there.
  if (capture == config::Capture::kFull && !limits.prompt_vetted) capture = config::Capture::kMetadata;
  r->capture = capture;
  if (capture == config::Capture::kNone) return;
  if (!messages) message_count = 0;
  bool full = capture == config::Capture::kFull;
  r->prompt = full ? std::make_shared<chain::OwnedMessages>(
                         std::initializer_list<chain::OwnedMessages::List>{{messages, message_count}})
                   : shapeOf(messages, message_count);
  if (full && limits.answer_shown) {
    r->answer = std::string(answer);
    r->answer_tool_calls = tool_calls;
    return;
  }
  for (const ToolCall& c : tool_calls) r->answer_tool_calls.push_back({c.id, c.type, c.name, ""});
}

}  // namespace outrigger::telemetry
