// Finding the JSON value in a model's answer: the whole text, or the value inside a Markdown code
// fence or a sentence of prose ("Here is the result: {...} Hope this helps."). Parsing is
// RapidJSON's, bounded in depth (bounded_json.h) and checked for UTF-8 (valijson counts string
// lengths assuming it).
#pragma once

#include <rapidjson/document.h>

#include <string>
#include <string_view>

namespace outrigger::jsonguard {

struct Extracted {
  bool found = false;
  std::string_view json;  // the value's text within the input (no surrounding whitespace)
  rapidjson::Document doc;
  bool surrounded = false;  // text other than whitespace was around the value
  bool incomplete = false;  // the text ended inside a value (as a cut-off answer does)
  std::string error;        // when nothing was found: why the whole text is not JSON
};

// `allow_surrounding`: look inside fences and prose when the whole text is not one JSON value;
// only an object or an array is taken from there (a number in a sentence is not an answer).
// At most kMaxCandidates opening brackets are tried, so the work is bounded by a few parses.
Extracted extractJson(std::string_view text, bool allow_surrounding);

inline constexpr size_t kMaxCandidates = 16;

}  // namespace outrigger::jsonguard
