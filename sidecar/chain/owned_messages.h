// Messages a plugin handed the host (a guardrail's REWRITE, a re-ask's repair prompt), copied
// into storage the request owns, with views over the copy for every later reader.
#pragma once

#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include <outrigger/plugin.h>

#include "api/response_sink.h"

namespace outrigger::chain {

class OwnedMessages {
 public:
  struct List {
    const outrigger_message_view* messages;
    size_t count;
  };
  // Copies the lists, one after the other, into one message list.
  explicit OwnedMessages(std::initializer_list<List> lists);
  // An assistant message viewing an answer (its tool calls backed by `call_views`): what a
  // re-ask puts between the conversation and the repair prompt.
  static outrigger_message_view assistantMessage(const std::string& content, const std::vector<ToolCall>& calls,
                                                 std::vector<outrigger_tool_call_view>* call_views);

  const outrigger_message_view* data() const { return views_.data(); }
  size_t size() const { return views_.size(); }

 private:
  outrigger_str keep(outrigger_str s);
  // Strings live in chunks that never move; views point into them.
  std::vector<std::unique_ptr<char[]>> text_;
  std::vector<std::unique_ptr<outrigger_tool_call_view[]>> calls_;
  std::vector<outrigger_message_view> views_;
};

}  // namespace outrigger::chain
