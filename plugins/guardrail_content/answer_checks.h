// The checks on an answer: refusal (the provider's flag or refusal phrasing at its start), empty
// or whitespace-only text, length, banned topics. A whole answer is checked at once; a streamed
// one chunk by chunk, holding back only what a check still needs: the last few bytes a banned
// phrase could span, and, when a refusal denies, the answer's opening until it is decided.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "content_settings.h"

namespace outrigger::content {

struct AnswerVerdict {
  Action action = Action::kOff;  // kOff: nothing found
  std::string reason;
  // Raises the verdict to `a` with `why` (the first reason of the strongest action stays).
  void raise(Action a, std::string why);
};

AnswerVerdict checkWholeAnswer(const ContentSettings& s, std::string_view text, bool refused, bool has_tool_calls);

// One streamed answer. `pending()` is what it holds back, not yet released to the client.
class AnswerStream {
 public:
  explicit AnswerStream(const ContentSettings& s) : s_(s) {}

  struct Step {
    AnswerVerdict verdict;
    size_t release = 0;  // bytes of pending() that may go now (after feed); all of it after finish
  };
  Step feed(std::string_view delta, bool refused, bool has_tool_calls);
  Step finish();
  const std::string& pending() const { return st_.pending; }
  // The first `n` bytes of pending() went out.
  void released(size_t n);
  void reset() { st_ = State{}; }

 private:
  void checkRefusal(bool at_end, AnswerVerdict* v);
  void checkTopics(bool at_end, AnswerVerdict* v);
  void checkLength(AnswerVerdict* v) const;
  size_t holdBack() const;

  const ContentSettings& s_;
  struct State {
    std::string pending;
    std::string context;  // the released bytes just before pending, for phrases across the cut
    std::string head;     // the answer's first refusal_window_bytes
    size_t released_bytes = 0;
    size_t chars = 0;
    bool refused = false, refusal_decided = false, saw_text = false, saw_tool_calls = false;
    std::vector<bool> topics_reported;
  } st_;
};

}  // namespace outrigger::content
