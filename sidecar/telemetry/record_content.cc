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
  // A prompt the guardrails did not vet keeps its shape only; an answer the caller got keeps its
  // text all the same (a guardrail skipped on error let it through). A record left with no text
  // at all says so: readers (eval capture, the trace views) take "full" to mean text is there.
  const bool full = capture == config::Capture::kFull;
  const bool prompt_text = full && limits.prompt_vetted;
  const bool answer_text = full && limits.answer_shown;
  r->capture = full && !prompt_text && !answer_text ? config::Capture::kMetadata : capture;
  if (capture == config::Capture::kNone) return;
  if (!messages) message_count = 0;
  r->prompt = prompt_text ? std::make_shared<chain::OwnedMessages>(
                                std::initializer_list<chain::OwnedMessages::List>{{messages, message_count}})
                          : shapeOf(messages, message_count);
  if (answer_text) {
    r->answer = std::string(answer);
    r->answer_tool_calls = tool_calls;
    return;
  }
  for (const ToolCall& c : tool_calls) r->answer_tool_calls.push_back({c.id, c.type, c.name, ""});
}

}  // namespace outrigger::telemetry
