#include "phrase_lists.h"

#include <re2/re2.h>

#include <stdexcept>

namespace outrigger::content {
namespace {

constexpr char kNonWord[] = R"([^\pL\pN_])";

// "how to make" -> how[\s\pZ]{1,8}to[\s\pZ]{1,8}make: words quoted, the gaps (any Unicode space,
// a no-break space included) bounded so matches are too.
std::string phrasePattern(std::string_view phrase, size_t* bytes) {
  std::string out;
  size_t words = 0;
  for (size_t i = 0; i < phrase.size();) {
    while (i < phrase.size() && isspace(static_cast<unsigned char>(phrase[i]))) ++i;
    size_t j = i;
    while (j < phrase.size() && !isspace(static_cast<unsigned char>(phrase[j]))) ++j;
    if (j == i) break;
    if (words++) out += R"([\s\pZ]{1,8})";
    for (; i < j; ++i) {  // a typed apostrophe also matches the typographic one models write
      out += phrase[i] == '\'' ? std::string("['’]") : RE2::QuoteMeta(re2::StringPiece(phrase.data() + i, 1));
    }
  }
  // Case folding can turn one byte into up to three (k -> U+212A); a gap takes eight spaces of up
  // to three bytes each.
  *bytes = 3 * phrase.size() + 24 * words;
  return out;
}

}  // namespace

PhraseMatcher::PhraseMatcher(const std::vector<PhraseGroup>& groups) {
  if (groups.empty()) return;
  RE2::Options opt;
  opt.set_case_sensitive(false);
  opt.set_log_errors(false);
  set_ = std::make_unique<RE2::Set>(opt, RE2::UNANCHORED);
  for (const PhraseGroup& g : groups) {
    std::string alternatives;
    for (const std::string& p : g.phrases) {
      size_t bytes = 0;
      std::string pattern = phrasePattern(p, &bytes);
      if (pattern.empty()) continue;
      alternatives += (alternatives.empty() ? "" : "|") + pattern;
      max_match_bytes_ = std::max(max_match_bytes_, bytes + 8);  // and two boundary characters
    }
    if (alternatives.empty()) throw std::runtime_error("'" + g.name + "' has no phrase");
    std::string err;
    if (set_->Add(std::string(kNonWord) + "(?:" + alternatives + ")" + kNonWord, &err) < 0) {
      throw std::runtime_error("'" + g.name + "' does not compile: " + err);
    }
  }
  if (!set_->Compile()) throw std::runtime_error("the phrase lists do not compile together (too large)");
}

std::vector<int> PhraseMatcher::match(std::string_view text, bool at_start, bool at_end, std::string* error) const {
  std::vector<int> hits;
  if (!set_) return hits;
  // A space stands for the text's real edge, so a phrase there still has a boundary.
  std::string framed;
  framed.reserve(text.size() + 2);
  if (at_start) framed.push_back(' ');
  framed.append(text);
  if (at_end) framed.push_back(' ');
  RE2::Set::ErrorInfo info{};
  if (!set_->Match(framed, &hits, &info) && info.kind != RE2::Set::kNoError) {
    *error = info.kind == RE2::Set::kOutOfMemory ? "phrase matcher out of memory" : "phrase matcher failed";
    hits.clear();
  }
  return hits;
}

const std::vector<std::string>& builtinRefusalPhrases() {
  static const std::vector<std::string> kPhrases = {
      "I'm sorry, but I can't", "I'm sorry, but I cannot", "I am sorry, but I cannot", "I'm sorry, I can't",
      "Sorry, but I can't", "Sorry, I can't help", "I can't help with that", "I cannot help with that",
      "I can't assist with that", "I cannot assist with that", "I can't help with this", "I cannot assist with this",
      "I can't comply", "I cannot comply", "I won't be able to help", "I'm unable to help", "I am unable to help",
      "I'm unable to assist", "I am unable to assist", "I'm unable to provide", "I am unable to provide",
      "I'm not able to help", "I am not able to help", "I'm not able to provide", "I cannot provide",
      "I can't provide", "I must decline", "I have to decline", "I'm not comfortable", "I am not comfortable",
      "As an AI language model, I cannot", "As an AI language model, I can't", "As an AI, I cannot",
      "I cannot fulfill", "I can't fulfill", "I cannot create content", "I can't create content",
      "goes against my guidelines", "against my programming", "I'm not going to help",
      "I cannot engage", "I can't engage", "I won't provide", "I will not provide"};
  return kPhrases;
}

}  // namespace outrigger::content
