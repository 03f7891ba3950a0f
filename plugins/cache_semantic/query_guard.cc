#include "query_guard.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

namespace outrigger::semantic {
namespace {

// English only: the words that flip a question's meaning. Contractions are matched by their
// "n't" ending, so "isn't", "can't", "won't" all count as "not"; the same written without the
// apostrophe, as people type them, are listed.
constexpr std::array<std::string_view, 32> kNegations = {
    "not",    "no",      "never",    "none",     "nobody",  "nothing", "neither",  "nor",
    "nowhere", "without", "cannot",  "cant",     "dont",    "doesnt",  "didnt",    "isnt",
    "arent",  "wasnt",   "werent",   "hasnt",    "havent",  "hadnt",   "wont",     "wouldnt",
    "shouldnt", "couldnt", "mustnt", "neednt",   "aint",    "shant",   "mightnt",  "darent"};

constexpr std::array<std::pair<std::string_view, std::string_view>, 24> kNumberWords = {{
    {"zero", "0"},     {"one", "1"},       {"two", "2"},        {"three", "3"},     {"four", "4"},
    {"five", "5"},     {"six", "6"},       {"seven", "7"},      {"eight", "8"},     {"nine", "9"},
    {"ten", "10"},     {"eleven", "11"},   {"twelve", "12"},    {"thirteen", "13"}, {"fourteen", "14"},
    {"fifteen", "15"}, {"sixteen", "16"},  {"seventeen", "17"}, {"eighteen", "18"}, {"nineteen", "19"},
    {"twenty", "20"},  {"hundred", "100"}, {"thousand", "1000"}, {"million", "1000000"},
}};

bool isWordByte(unsigned char c) { return std::isalnum(c) || c == '\'' || c >= 0x80; }

void classify(std::string word, QueryMarks* marks) {
  std::string plain;
  for (char c : word) {
    if (c != '\'') plain.push_back(char(std::tolower(static_cast<unsigned char>(c))));
  }
  if (plain.empty()) return;
  bool negated = plain.size() > 3 && plain.ends_with("nt") && word.size() > 3 && word.ends_with("n't");
  if (negated || std::find(kNegations.begin(), kNegations.end(), plain) != kNegations.end()) {
    marks->negations.push_back("not");
    return;
  }
  for (const auto& [name, digits] : kNumberWords) {
    if (plain == name) return marks->numbers.emplace_back(digits), void();
  }
}

// `text` with the typographic apostrophes (U+2019, U+02BC) as ASCII ones: "isn’t" is "isn't".
std::string plainApostrophes(std::string_view text) {
  std::string out(text);
  for (std::string_view curly : {std::string_view("\xE2\x80\x99"), std::string_view("\xCA\xBC")}) {
    for (size_t at = out.find(curly); at != std::string::npos; at = out.find(curly, at + 1)) {
      out.replace(at, curly.size(), "'");
    }
  }
  return out;
}

bool isDigitAt(std::string_view text, size_t i) {
  return i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]));
}

// A ',' between digits that groups thousands ("1,000"): three digits follow, then no digit.
bool isThousandsComma(std::string_view text, size_t i) {
  return text[i] == ',' && isDigitAt(text, i + 1) && isDigitAt(text, i + 2) && isDigitAt(text, i + 3) &&
         !isDigitAt(text, i + 4);
}

}  // namespace

QueryMarks marksOf(std::string_view original) {
  const std::string normalized = plainApostrophes(original);
  const std::string_view text = normalized;
  QueryMarks marks;
  size_t i = 0;
  while (i < text.size()) {
    unsigned char c = text[i];
    if (std::isdigit(c)) {
      // A number: digits with '.' between them ("3.5"), or a ',' grouping thousands ("1,000" is
      // 1000, but "3,5" is not 35); a trailing '.' ends it. A '-' just before, not inside a word
      // ("-5", not "covid-19"), is its sign.
      std::string digits;
      if (i > 0 && text[i - 1] == '-' && (i < 2 || !isWordByte(text[i - 2]))) digits.push_back('-');
      while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) ||
                                 ((text[i] == ',' || text[i] == '.') && isDigitAt(text, i + 1)))) {
        if (!isThousandsComma(text, i)) digits.push_back(text[i]);
        ++i;
      }
      marks.numbers.push_back(std::move(digits));
    } else if (isWordByte(c)) {
      size_t start = i;
      while (i < text.size() && isWordByte(text[i]) && !std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
      classify(std::string(text.substr(start, i - start)), &marks);
    } else {
      ++i;
    }
  }
  std::sort(marks.negations.begin(), marks.negations.end());
  std::sort(marks.numbers.begin(), marks.numbers.end());
  return marks;
}

std::string_view guardRefusal(const QueryMarks& query, const QueryMarks& candidate) {
  if (query.negations != candidate.negations) return "negation";
  if (query.numbers != candidate.numbers) return "number";
  return {};
}

}  // namespace outrigger::semantic
