// An LLM judge: asks a judge route to grade an output against a rubric, answering
// {"score": 0..1, "reason": "...", "pass": true|false}. Answers are cached (judge_cache.h).
// Used by the judge scorer and by `outrigger eval calibrate`.
#pragma once

#include <optional>
#include <string>

#include "eval/judge_cache.h"
#include "eval/chat_backend.h"

namespace outrigger::eval {

class Judge {
 public:
  Judge(ChatBackend* client, JudgeCache* cache, std::string route, std::string rubric, double threshold,
        uint32_t timeout_ms)
      : client_(client), cache_(cache), route_(std::move(route)), rubric_(std::move(rubric)),
        threshold_(threshold), timeout_ms_(timeout_ms) {}

  // The grade of `output`, given as the answer to `input`; nullopt with `error` when the judge
  // did not answer or answered something that is not the JSON asked for. Thread-safe.
  std::optional<JudgeAnswer> grade(const std::string& input, const std::string& output, std::string* error) const;

  // Reads the judge's answer text: the first JSON object in it, with a numeric score; `pass`
  // defaults to score >= threshold when the judge leaves it out.
  static std::optional<JudgeAnswer> parseAnswer(const std::string& text, double threshold, std::string* error);

 private:
  ChatBackend* client_;
  JudgeCache* cache_;
  std::string route_, rubric_;
  double threshold_;
  uint32_t timeout_ms_;
};

// The case's conversation as one text, the judge's view of the input.
std::string conversationText(const std::vector<client::Message>& messages);

}  // namespace outrigger::eval
