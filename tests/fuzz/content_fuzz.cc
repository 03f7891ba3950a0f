// guardrail.content on hostile text: the injection scan (hidden characters, decoding of base64 and
// hex blocks, tag and selector runs) and a streamed answer cut at fuzzer-chosen points. Checks that
// scores stay in [0, 1], that an answer not denied reaches the client whole and unchanged, and that
// the judge's answer parser never reads past its input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "answer_checks.h"
#include "content_settings.h"
#include "judge.h"

using namespace outrigger::content;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::unique_ptr<ContentSettings> settings = parseSettings(
      R"({"refusal":{"action":"deny","window_bytes":32},"max_answer_chars":100000,
          "banned_topics":[{"name":"w","keywords":["napalm","pipe bomb","x"]}]})");
  if (size < 2) return 0;
  const size_t cut_every = 1 + data[0] % 16;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  const Assessment a = settings->scanner->assess(text);
  if (a.error.empty() && (a.score < 0 || a.score > 1)) std::abort();
  (void)parseJudgeAnswer(text);

  AnswerStream stream(*settings);
  std::string released;
  bool denied = false;
  for (size_t at = 0; at < text.size() && !denied; at += cut_every) {
    const AnswerStream::Step step = stream.feed(text.substr(at, cut_every), false, false);
    denied = step.verdict.action == Action::kDeny;
    if (denied) break;
    if (step.release > stream.pending().size()) std::abort();
    released += stream.pending().substr(0, step.release);
    stream.released(step.release);
  }
  if (!denied) {
    const AnswerStream::Step end = stream.finish();
    if (end.verdict.action != Action::kDeny) {
      released += stream.pending().substr(0, end.release);
      if (released != text) std::abort();  // nothing lost, nothing added
    }
  }
  return 0;
}
