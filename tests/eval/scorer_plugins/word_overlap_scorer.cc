// scorer.word_overlap: an example scorer plugin through the scorer C ABI
// (outrigger/scorer_plugin.h). The score is the F1 of the words the answer and the case's
// expected text share (as SQuAD scores answers); it passes at `threshold` (default 0.5).
//
// | config key  | type | default | meaning                              |
// | lowercase   | bool | true    | compare words case-insensitively     |
//
// A case without expected text cannot be scored: that is reported as an error of the case.
#include <outrigger/scorer_plugin.h>

#include <rapidjson/document.h>

#include <cctype>
#include <cstdio>
#include <map>
#include <new>
#include <string>

namespace {

struct Settings {
  bool lowercase = true;
  double threshold = 0.5;
};

// Words: runs of letters and digits.
std::map<std::string, int> words(outrigger_str text, bool lowercase) {
  std::map<std::string, int> counts;
  std::string word;
  for (size_t i = 0; i <= text.size; ++i) {
    unsigned char ch = i < text.size ? static_cast<unsigned char>(text.data[i]) : ' ';
    if (std::isalnum(ch)) {
      word += static_cast<char>(lowercase ? std::tolower(ch) : ch);
    } else if (!word.empty()) {
      ++counts[word];
      word.clear();
    }
  }
  return counts;
}

double f1(const std::map<std::string, int>& answer, const std::map<std::string, int>& expected) {
  int shared = 0, answer_total = 0, expected_total = 0;
  for (const auto& [w, n] : answer) {
    answer_total += n;
    auto it = expected.find(w);
    if (it != expected.end()) shared += std::min(n, it->second);
  }
  for (const auto& [w, n] : expected) expected_total += n;
  if (shared == 0) return 0;
  double precision = double(shared) / answer_total, recall = double(shared) / expected_total;
  return 2 * precision * recall / (precision + recall);
}

void say(outrigger_scorer_verdict* v, const std::string& text) { v->set_reason(v, {text.data(), text.size()}); }

int32_t create(outrigger_str config, double threshold, void** state, outrigger_error* error) noexcept {
  auto* s = new (std::nothrow) Settings;
  if (!s) return OUTRIGGER_SCORER_ERROR;
  if (threshold >= 0) s->threshold = threshold;
  if (config.size) {
    rapidjson::Document doc;
    doc.Parse(config.data, config.size);
    if (doc.HasParseError() || !doc.IsObject() || (doc.HasMember("lowercase") && !doc["lowercase"].IsBool())) {
      std::snprintf(error->message, sizeof error->message, "config must be a table like {lowercase = true}");
      delete s;
      return OUTRIGGER_SCORER_ERROR;
    }
    if (doc.HasMember("lowercase")) s->lowercase = doc["lowercase"].GetBool();
  }
  *state = s;
  return OUTRIGGER_SCORER_OK;
}

int32_t score(void* state, const outrigger_scorer_case* c, outrigger_scorer_verdict* v) noexcept {
  try {
    const auto* s = static_cast<const Settings*>(state);
    if (c->expected.size == 0) {
      say(v, "the case has no expected text to compare the answer with");
      return OUTRIGGER_SCORER_ERROR;
    }
    v->score = f1(words(c->output, s->lowercase), words(c->expected, s->lowercase));
    v->pass = v->score >= s->threshold;
    char reason[96];
    std::snprintf(reason, sizeof reason, "word overlap F1 %.2f (threshold %.2f)", v->score, s->threshold);
    say(v, reason);
    return OUTRIGGER_SCORER_OK;
  } catch (...) {
    return OUTRIGGER_SCORER_ERROR;
  }
}

void destroy(void* state) noexcept { delete static_cast<Settings*>(state); }

#ifdef OUTRIGGER_TEST_ABI_MAJOR
constexpr uint16_t kMajor = OUTRIGGER_TEST_ABI_MAJOR;  // a build for the wrong-version test
#else
constexpr uint16_t kMajor = OUTRIGGER_SCORER_ABI_MAJOR;
#endif

#ifdef OUTRIGGER_TEST_SHORT_TABLE
constexpr uint32_t kTableSize = 16;  // a build for the table-size test
#else
constexpr uint32_t kTableSize = sizeof(outrigger_scorer_plugin);
#endif

const outrigger_scorer_plugin kPlugin = {
    {kTableSize, kMajor, OUTRIGGER_SCORER_ABI_MINOR},
    "scorer.word_overlap", "1.0.0", create, score, destroy};

}  // namespace

#ifndef OUTRIGGER_TEST_NO_ENTRY
extern "C" OUTRIGGER_EXPORT const outrigger_scorer_plugin* outrigger_scorer_entry_v1(void) { return &kPlugin; }
#endif
