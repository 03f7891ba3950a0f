#include "query_guard.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <string>
#include <utility>

namespace outrigger::semantic {
namespace {

// English only: the words that flip a question's meaning. Contractions are matched by their
// "n't" ending, so "isn't", "can't", "won't" all count as "not"; the same written without the
// apostrophe, as people type them, are listed, and "non" of "non-alcoholic".
constexpr std::array<std::string_view, 33> kNegations = {
    "not",    "no",      "never",    "none",     "nobody",  "nothing", "neither",  "nor",      "non",
    "nowhere", "without", "cannot",  "cant",     "dont",    "doesnt",  "didnt",    "isnt",
    "arent",  "wasnt",   "werent",   "hasnt",    "havent",  "hadnt",   "wont",     "wouldnt",
    "shouldnt", "couldnt", "mustnt", "neednt",   "aint",    "shant",   "mightnt",  "darent"};

constexpr std::array<std::pair<std::string_view, std::string_view>, 33> kNumberWords = {{
    {"zero", "0"},       {"one", "1"},         {"two", "2"},           {"three", "3"},     {"four", "4"},
    {"five", "5"},       {"six", "6"},         {"seven", "7"},         {"eight", "8"},     {"nine", "9"},
    {"ten", "10"},       {"eleven", "11"},     {"twelve", "12"},       {"thirteen", "13"}, {"fourteen", "14"},
    {"fifteen", "15"},   {"sixteen", "16"},    {"seventeen", "17"},    {"eighteen", "18"}, {"nineteen", "19"},
    {"twenty", "20"},    {"thirty", "30"},     {"forty", "40"},        {"fifty", "50"},    {"sixty", "60"},
    {"seventy", "70"},   {"eighty", "80"},     {"ninety", "90"},       {"hundred", "100"}, {"thousand", "1000"},
    {"million", "1000000"}, {"billion", "1000000000"}, {"trillion", "1000000000000"},
}};

// Arithmetic and comparison between two numbers: "12 * 7" and "12 + 7", "5 > 3" and "5 < 3" have
// the same numbers and ask different things. ('-' is read as the second number's sign.)
bool isOperator(std::string_view text, size_t i, size_t* len) {
  static constexpr std::string_view kMultiByte[] = {"\u00D7", "\u00F7", "\u2264", "\u2265", "\u2260"};  // × ÷ ≤ ≥ ≠
  for (std::string_view op : kMultiByte) {
    if (text.substr(i, op.size()) == op) return *len = op.size(), true;
  }
  *len = 1;
  return std::string_view("+*/<>=^").find(text[i]) != std::string_view::npos;
}

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

// What a code point reads as to the guard: an apostrophe, a minus sign, a separator (Unicode
// spaces and punctuation: a curly-quoted "“not”" or "safe—or not—to" must split into words),
// or itself (0). Everything else non-ASCII stays part of a word ("café").
char plainFor(uint32_t cp) {
  // Fullwidth forms are their ASCII characters: "２" a digit, "＇" an apostrophe, "＊" an operator.
  if (cp >= 0xFF01 && cp <= 0xFF5E) return char(cp - 0xFEE0);
  // Decimal digits of other scripts (Arabic-Indic, Eastern Arabic-Indic, Devanagari) as ASCII.
  for (uint32_t zero : {0x0660u, 0x06F0u, 0x0966u}) {
    if (cp >= zero && cp <= zero + 9) return char('0' + (cp - zero));
  }
  switch (cp) {
    case 0x2019: case 0x2018: case 0x02BC: case 0x00B4: case 0x2032: return '\'';
    case 0x2212: return '-';
    case 0x00A0: case 0x00AB: case 0x00BB: case 0x00BF: case 0x00A1: return ' ';
    default: break;
  }
  if ((cp >= 0x2000 && cp <= 0x206F) || (cp >= 0x3000 && cp <= 0x303F)) return ' ';
  return 0;
}

// `text` with typographic apostrophes, minus signs and Unicode separators as their ASCII
// counterparts ("isn’t" is "isn't"), and a backtick as an apostrophe ("isn`t").
std::string plainPunctuation(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    unsigned char c = text[i];
    if (c == '`') {
      out.push_back('\'');
      ++i;
      continue;
    }
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
    if (len == 1 || i + len > text.size()) {
      out.push_back(char(c));
      ++i;
      continue;
    }
    uint32_t cp = len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
    for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    if (char plain = plainFor(cp)) out.push_back(plain);
    else out.append(text.substr(i, len));
    i += len;
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

// The operator at [i, i + len) has a number on each side (spaces between allowed; the right one
// may have a sign).
bool betweenNumbers(std::string_view text, size_t i, size_t len) {
  size_t left = i;
  while (left > 0 && text[left - 1] == ' ') --left;
  size_t right = i + len;
  while (right < text.size() && text[right] == ' ') ++right;
  if (right < text.size() && text[right] == '-') ++right;
  return left > 0 && isDigitAt(text, left - 1) && isDigitAt(text, right);
}

}  // namespace

QueryMarks marksOf(std::string_view original) {
  const std::string normalized = plainPunctuation(original);
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
    } else if (size_t len; isOperator(text, i, &len) && betweenNumbers(text, i, len)) {
      // Before words: × and ÷ are bytes above 0x7F, which a word takes in.
      marks.numbers.push_back(std::string(text.substr(i, len)));
      i += len;
    } else if (isWordByte(c)) {
      size_t start = i;
      while (i < text.size() && isWordByte(text[i]) && !std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
      classify(std::string(text.substr(start, i - start)), &marks);
    } else {
      ++i;
    }
  }
  // Negations are compared as a set; numbers and the operators between them in the order they
  // came, so "10 / 2" is not "2 / 10" and "10 divided by 2" not "2 divided by 10". A paraphrase
  // that reorders its numbers then misses, which costs a call and never serves a wrong answer.
  std::sort(marks.negations.begin(), marks.negations.end());
  return marks;
}

std::string_view guardRefusal(const QueryMarks& query, const QueryMarks& candidate) {
  if (query.negations != candidate.negations) return "negation";
  if (query.numbers != candidate.numbers) return "number";
  return {};
}

}  // namespace outrigger::semantic
