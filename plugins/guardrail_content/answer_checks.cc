#include "answer_checks.h"

#include <algorithm>

namespace outrigger::content {
namespace {

bool isContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

size_t countChars(std::string_view text) {
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) { return !isContinuationByte(c); }));
}

bool isBlank(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); });
}

std::string refusalReason(bool flagged_by_provider) {
  return flagged_by_provider ? "the provider refused" : "the answer opens with refusal phrasing";
}

// Phrase hits turned into verdicts; `reported` (when given) lets a flagged topic be told once.
void raiseTopics(const ContentSettings& s, const std::vector<int>& hits, const std::string& error,
                 std::vector<bool>* reported, AnswerVerdict* v) {
  if (!error.empty()) v->raise(Action::kDeny, "content check failed (" + error + ")");
  for (int i : hits) {
    const BannedTopic& topic = s.answer_topics[static_cast<size_t>(i)];
    if (topic.action == Action::kFlag && reported) {
      if ((*reported)[static_cast<size_t>(i)]) continue;
      (*reported)[static_cast<size_t>(i)] = true;
    }
    v->raise(topic.action, "the answer mentions banned topic '" + topic.name + "'");
  }
}

}  // namespace

void AnswerVerdict::raise(Action a, std::string why) {
  if (static_cast<int>(a) <= static_cast<int>(action)) return;
  action = a;
  reason = std::move(why);
}

AnswerVerdict checkWholeAnswer(const ContentSettings& s, std::string_view text, bool refused, bool has_tool_calls) {
  AnswerVerdict v;
  if (s.refusal != Action::kOff) {
    std::string error;
    const size_t window = s.refusal_window_bytes;
    if (refused || !s.refusal_phrases.match(text.substr(0, window), true, text.size() <= window, &error).empty()) {
      v.raise(s.refusal, refusalReason(refused));
    }
  }
  if (s.empty_answer != Action::kOff && isBlank(text) && !has_tool_calls) v.raise(s.empty_answer, "the answer is empty");
  if (s.max_answer_chars) {
    const size_t chars = countChars(text);
    if (chars > s.max_answer_chars) {
      v.raise(s.on_max_answer, "the answer has " + std::to_string(chars) + " characters, over the limit of " +
                                   std::to_string(s.max_answer_chars));
    }
  }
  if (!s.answer_phrases.empty()) {
    std::string error;
    std::vector<int> hits = s.answer_phrases.match(text, true, true, &error);
    raiseTopics(s, hits, error, nullptr, &v);
  }
  return v;
}

AnswerStream::Step AnswerStream::feed(std::string_view delta, bool refused, bool has_tool_calls) {
  st_.pending.append(delta);
  st_.chars += countChars(delta);
  st_.saw_text = st_.saw_text || !isBlank(delta);
  st_.saw_tool_calls = st_.saw_tool_calls || has_tool_calls;
  st_.refused = st_.refused || refused;
  if (st_.head.size() < s_.refusal_window_bytes) {
    st_.head.append(delta.substr(0, s_.refusal_window_bytes - st_.head.size()));
  }
  Step step;
  checkLength(&step.verdict);
  checkTopics(false, &step.verdict);
  checkRefusal(false, &step.verdict);
  if (step.verdict.action == Action::kDeny) return step;
  size_t release = st_.pending.size() - holdBack();
  while (release > 0 && release < st_.pending.size() && isContinuationByte(st_.pending[release])) --release;
  step.release = release;
  return step;
}

AnswerStream::Step AnswerStream::finish() {
  Step step;
  checkLength(&step.verdict);
  checkTopics(true, &step.verdict);
  checkRefusal(true, &step.verdict);
  if (s_.empty_answer != Action::kOff && !st_.saw_text && !st_.saw_tool_calls) {
    step.verdict.raise(s_.empty_answer, "the answer is empty");
  }
  step.release = st_.pending.size();
  return step;
}

void AnswerStream::released(size_t n) {
  st_.context.append(st_.pending, 0, n);
  st_.pending.erase(0, n);
  st_.released_bytes += n;
  // Keep what a phrase reaching into the held bytes could start in, cut at a character's start
  // so no broken byte reads as a word boundary.
  const size_t keep = s_.answer_phrases.maxMatchBytes() + 4;
  if (st_.context.size() > keep) {
    size_t cut = st_.context.size() - keep;
    while (cut < st_.context.size() && isContinuationByte(st_.context[cut])) ++cut;
    st_.context.erase(0, cut);
  }
}

void AnswerStream::checkLength(AnswerVerdict* v) const {
  if (!s_.max_answer_chars || st_.chars <= s_.max_answer_chars) return;
  v->raise(s_.on_max_answer, "the answer has over " + std::to_string(s_.max_answer_chars) + " characters");
}

void AnswerStream::checkTopics(bool at_end, AnswerVerdict* v) {
  if (s_.answer_phrases.empty()) return;
  if (st_.topics_reported.empty()) st_.topics_reported.assign(s_.answer_topics.size(), false);
  std::string error;
  const std::string window = st_.context + st_.pending;
  std::vector<int> hits = s_.answer_phrases.match(window, st_.released_bytes == 0, at_end, &error);
  raiseTopics(s_, hits, error, &st_.topics_reported, v);
}

void AnswerStream::checkRefusal(bool at_end, AnswerVerdict* v) {
  if (s_.refusal == Action::kOff || st_.refusal_decided) return;
  if (st_.refused) {
    st_.refusal_decided = true;
    v->raise(s_.refusal, refusalReason(true));
    return;
  }
  const bool head_complete = st_.head.size() >= s_.refusal_window_bytes;
  if (!head_complete && !at_end) return;
  st_.refusal_decided = true;
  std::string error;
  if (!s_.refusal_phrases.match(st_.head, true, !head_complete, &error).empty()) v->raise(s_.refusal, refusalReason(false));
  if (!error.empty()) v->raise(Action::kDeny, "content check failed (" + error + ")");
}

size_t AnswerStream::holdBack() const {
  if (s_.refusal == Action::kDeny && !st_.refusal_decided) return st_.pending.size();
  if (s_.answer_phrases.empty()) return 0;
  return std::min(st_.pending.size(), s_.answer_phrases.maxMatchBytes());
}

}  // namespace outrigger::content
