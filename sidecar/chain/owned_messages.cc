#include "chain/owned_messages.h"

#include <cstring>

namespace outrigger::chain {

outrigger_str OwnedMessages::keep(outrigger_str s) {
  if (!s.data || !s.size) return {nullptr, 0};
  auto copy = std::make_unique<char[]>(s.size);
  std::memcpy(copy.get(), s.data, s.size);
  text_.push_back(std::move(copy));
  return {text_.back().get(), s.size};
}

OwnedMessages::OwnedMessages(std::initializer_list<List> lists) {
  for (const List& list : lists) {
    for (size_t i = 0; list.messages && i < list.count; ++i) {
      const outrigger_message_view& src = list.messages[i];
      outrigger_message_view v{keep(src.role), keep(src.content), keep(src.name), keep(src.tool_call_id), nullptr, 0};
      if (src.tool_calls && src.tool_call_count) {
        auto calls = std::make_unique<outrigger_tool_call_view[]>(src.tool_call_count);
        for (size_t j = 0; j < src.tool_call_count; ++j) {
          const auto& c = src.tool_calls[j];
          calls[j] = {keep(c.id), keep(c.type), keep(c.name), keep(c.arguments)};
        }
        v.tool_calls = calls.get();
        v.tool_call_count = src.tool_call_count;
        calls_.push_back(std::move(calls));
      }
      views_.push_back(v);
    }
  }
}

outrigger_message_view OwnedMessages::assistantMessage(const std::string& content, const std::vector<ToolCall>& calls,
                                                       std::vector<outrigger_tool_call_view>* call_views) {
  call_views->clear();
  for (const ToolCall& c : calls) {
    call_views->push_back({{c.id.data(), c.id.size()}, {c.type.data(), c.type.size()},
                           {c.name.data(), c.name.size()}, {c.arguments.data(), c.arguments.size()}});
  }
  static constexpr char kAssistant[] = "assistant";
  return {{kAssistant, sizeof kAssistant - 1}, {content.data(), content.size()}, {nullptr, 0}, {nullptr, 0},
          call_views->empty() ? nullptr : call_views->data(), call_views->size()};
}

}  // namespace outrigger::chain
