// The negation and number guard: two queries whose embeddings are close can still ask opposite
// or different things ("is X safe" / "is X not safe", "in 4 days" / "in 14 days"). Static and
// sentence embeddings barely move for one such word, so a candidate must also agree on these
// words exactly to be served.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace outrigger::semantic {

// What the guard compares: the query's negation words (normalised: "don't" -> "not") and its
// numbers (digits with separators dropped; "one".."twenty", "hundred", "thousand" as digits)
// with the operators between them. Negations are sorted; numbers keep the text's order.
struct QueryMarks {
  std::vector<std::string> negations;
  std::vector<std::string> numbers;
  bool operator==(const QueryMarks& o) const { return negations == o.negations && numbers == o.numbers; }
};

QueryMarks marksOf(std::string_view text);

// Why a candidate was refused, for the lookup's span; empty when it passes.
std::string_view guardRefusal(const QueryMarks& query, const QueryMarks& candidate);

}  // namespace outrigger::semantic
