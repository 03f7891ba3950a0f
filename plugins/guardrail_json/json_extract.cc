#include "json_extract.h"

#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <algorithm>

#include "bounded_json.h"

namespace outrigger::jsonguard {
namespace {

constexpr unsigned kFlags = rapidjson::kParseValidateEncodingFlag;

std::string_view trim(std::string_view s) {
  const char* ws = " \t\r\n";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

// Bytes of the one JSON value at the start of `text`, or 0 when none parses there (*failed_at:
// where the reader gave up). The iterative reader keeps its own heap stack, so deep input costs
// no recursion; no DOM is built.
size_t valueLength(std::string_view text, size_t* failed_at) {
  rapidjson::MemoryStream in(text.data(), text.size());
  rapidjson::BaseReaderHandler<> ignore;
  rapidjson::Reader reader;
  rapidjson::ParseResult r =
      reader.Parse<kFlags | rapidjson::kParseStopWhenDoneFlag | rapidjson::kParseIterativeFlag>(in, ignore);
  if (r.IsError()) *failed_at = r.Offset();
  return r.IsError() ? 0 : in.Tell();
}

// The text inside the first ``` fence (its info string, such as "json", skipped), or empty.
std::string_view fenced(std::string_view text) {
  size_t open = text.find("```");
  if (open == std::string_view::npos) return {};
  size_t line = text.find('\n', open + 3);
  if (line == std::string_view::npos) return {};
  size_t close = text.find("```", line + 1);
  if (close == std::string_view::npos) return {};
  return trim(text.substr(line + 1, close - line - 1));
}

bool parseWhole(std::string_view text, Extracted* out) {
  json::ParseResult r = json::parse<kFlags>(text, &out->doc);
  if (!r) return false;
  out->found = true;
  out->json = text;
  return true;
}

}  // namespace

Extracted extractJson(std::string_view text, bool allow_surrounding) {
  Extracted out;
  const std::string_view body = trim(text);
  json::ParseResult whole = json::parse<kFlags>(body, &out.doc);
  if (whole) {
    out.found = true;
    out.json = body;
    return out;
  }
  out.incomplete = !whole.tooDeep() && whole.offset() >= body.size();
  out.error = body.empty() ? "the answer is empty"
                           : whole.reason() + " (at byte " + std::to_string(whole.offset()) + ")";
  if (!allow_surrounding || body.empty()) return out;

  Extracted inner;
  if (std::string_view code = fenced(body); !code.empty() && parseWhole(code, &inner)) {
    inner.surrounded = true;
    return inner;
  }
  size_t tried = 0;
  // A bracket before this lies inside an earlier candidate that broke off after it: a part of a
  // broken or cut-off value ({"items":[{"id":1},{"id":2 ...), never the answer.
  size_t inside_broken = 0;
  for (size_t at = body.find_first_of("{["); at != std::string_view::npos && tried < kMaxCandidates;
       at = body.find_first_of("{[", at + 1), ++tried) {
    if (at < inside_broken) continue;
    size_t failed_at = 0;
    size_t n = valueLength(body.substr(at), &failed_at);
    if (n == 0) {
      inside_broken = std::max(inside_broken, at + failed_at);
      continue;
    }
    if (parseWhole(body.substr(at, n), &inner)) {
      inner.surrounded = true;
      return inner;
    }
  }
  return out;
}

}  // namespace outrigger::jsonguard
