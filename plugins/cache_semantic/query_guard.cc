#include "query_guard.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

namespace outrigger::semantic {
namespace {

// English only: the words that flip a question's meaning. Contractions are matched by their
// "n't" ending, so "isn't", "can't", "won't" all count as "not".
constexpr std::array<std::string_view, 14> kNegations = {"not", "no", "never", "none", "nobody", "nothing",
                                                         "neither", "nor", "nowhere", "without", "cannot",
                                                         "cant", "dont", "doesnt"};

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

}  // namespace

QueryMarks marksOf(std::string_view text) {
  QueryMarks marks;
  size_t i = 0;
  while (i < text.size()) {
    unsigned char c = text[i];
    if (std::isdigit(c)) {
      // A number: digits with ',' or '.' between them ("1,000", "3.5"); a trailing '.' ends it.
      std::string digits;
      while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) ||
                                 ((text[i] == ',' || text[i] == '.') && i + 1 < text.size() &&
                                  std::isdigit(static_cast<unsigned char>(text[i + 1]))))) {
        if (text[i] != ',') digits.push_back(text[i]);
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
