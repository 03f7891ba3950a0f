// The one way the daemon and the built-in plugins read JSON text: parsing bounded in nesting depth.
//
// Why: RapidJSON's default parser recurses once per nested array or object, and so do
// GenericValue::Accept (every writer), the copying constructor and CopyFrom. A valid body of
// 100,000 '[' overflows the stack in any of them. Here the parser runs iteratively (its own heap
// stack, so parsing never recurses) behind a SAX filter that stops at kMaxDepth levels; every
// Document filled here is therefore at most kMaxDepth deep, and the recursive walks over it are
// bounded too. A Document must never be filled any other way from text the daemon did not write.
// Numbers that overflow a double are refused too (see detail::Bounds), so whatever is parsed here
// can be written back as valid JSON.
//
// Header-only so the plugins (separate shared libraries) use the same code and the same limit;
// it is not part of the plugin ABI (sdk/plugin) and out-of-tree plugins do not see it.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/encodedstream.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace outrigger::json {

// The deepest nesting of arrays and objects accepted anywhere (a top-level `[]` is one level).
// Real schemas and tool arguments stay far below it; a recursive walk over a tree this deep
// (Writer via Accept, measured) takes about 12 KB of stack.
inline constexpr unsigned kMaxDepth = 128;

// "JSON nested deeper than 128 levels": the words every refusal of deep input uses.
inline std::string tooDeepReason() { return "JSON nested deeper than " + std::to_string(kMaxDepth) + " levels"; }

// The outcome of a bounded parse: success, a syntax error, or nesting past kMaxDepth.
class ParseResult {
 public:
  ParseResult() = default;
  ParseResult(rapidjson::ParseResult r, bool too_deep) : result_(r), too_deep_(too_deep) {}

  bool ok() const { return !result_.IsError(); }
  explicit operator bool() const { return ok(); }
  // The text nests arrays and objects deeper than kMaxDepth (reported before any later error).
  bool tooDeep() const { return too_deep_; }
  rapidjson::ParseErrorCode code() const { return result_.Code(); }
  // Byte offset of the error; for tooDeep(), of the bracket that went one level too far.
  size_t offset() const { return result_.Offset(); }
  // tooDeepReason(), or RapidJSON's English description of the syntax error.
  std::string reason() const { return too_deep_ ? tooDeepReason() : rapidjson::GetParseError_En(result_.Code()); }

 private:
  rapidjson::ParseResult result_;
  bool too_deep_ = false;
};

namespace detail {

// Forwards SAX events to `Handler`, ending the parse at the first array or object that would open
// level kMaxDepth + 1 (strings and keys are single events, so brackets inside them do not count),
// and at a number that does not fit a double: RapidJSON 1.1.0 refuses 1e309 but rounds 0.51e309
// or 99e307 to infinity, which its writer then cannot write, silently truncating the JSON.
template <typename Handler>
class Bounds {
 public:
  using Ch = char;
  explicit Bounds(Handler& inner) : inner_(inner) {}
  bool tooDeep() const { return too_deep_; }
  bool numberTooBig() const { return number_too_big_; }

  bool Null() { return inner_.Null(); }
  bool Bool(bool b) { return inner_.Bool(b); }
  bool Int(int i) { return inner_.Int(i); }
  bool Uint(unsigned u) { return inner_.Uint(u); }
  bool Int64(int64_t i) { return inner_.Int64(i); }
  bool Uint64(uint64_t u) { return inner_.Uint64(u); }
  bool Double(double d) {
    number_too_big_ = !std::isfinite(d);
    return !number_too_big_ && inner_.Double(d);
  }
  bool RawNumber(const Ch* s, rapidjson::SizeType n, bool copy) { return inner_.RawNumber(s, n, copy); }
  bool String(const Ch* s, rapidjson::SizeType n, bool copy) { return inner_.String(s, n, copy); }
  bool Key(const Ch* s, rapidjson::SizeType n, bool copy) { return inner_.Key(s, n, copy); }
  bool StartObject() { return enter() && inner_.StartObject(); }
  bool EndObject(rapidjson::SizeType members) { return leave() && inner_.EndObject(members); }
  bool StartArray() { return enter() && inner_.StartArray(); }
  bool EndArray(rapidjson::SizeType elements) { return leave() && inner_.EndArray(elements); }

 private:
  bool enter() {
    if (depth_ == kMaxDepth) {
      too_deep_ = true;
      return false;
    }
    ++depth_;
    return true;
  }
  bool leave() {
    --depth_;
    return true;
  }

  Handler& inner_;
  unsigned depth_ = 0;
  bool too_deep_ = false;
  bool number_too_big_ = false;
};

// Runs the iterative reader over `text` into `handler` through Bounds.
template <unsigned kFlags, typename Handler>
ParseResult readBounded(std::string_view text, Handler& handler) {
  // A null data pointer is fine with size 0: the stream never dereferences past its end.
  rapidjson::MemoryStream bytes(text.data(), text.size());
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> in(bytes);
  Bounds<Handler> bounded(handler);
  rapidjson::Reader reader;
  rapidjson::ParseResult r = reader.Parse<kFlags | rapidjson::kParseIterativeFlag>(in, bounded);
  if (bounded.numberTooBig()) r.Set(rapidjson::kParseErrorNumberTooBig, r.Offset());  // as for 1e309
  return ParseResult(r, bounded.tooDeep());
}

// The generator GenericDocument::Populate calls with the document as the SAX handler.
template <unsigned kFlags>
struct BoundedFill {
  std::string_view text;
  ParseResult result;
  bool operator()(rapidjson::Document& doc) {
    result = readBounded<kFlags>(text, doc);
    return result.ok();
  }
};

}  // namespace detail

// Parses `text` into `doc`, at most kMaxDepth deep, every number finite. `kFlags` adds RapidJSON parse flags (for
// example kParseValidateEncodingFlag); kParseIterativeFlag is always on, and in-situ parsing is
// not offered. On failure `doc` is null. Never throws and never recurses on the input's nesting.
template <unsigned kFlags = rapidjson::kParseDefaultFlags>
[[nodiscard]] ParseResult parse(std::string_view text, rapidjson::Document* doc) {
  static_assert(!(kFlags & rapidjson::kParseInsituFlag), "in-situ parsing is not bounded here");
  detail::BoundedFill<kFlags> fill{text, {}};
  doc->Populate(fill);  // moves the root into `doc` only when the parse succeeded
  if (!fill.result.ok()) doc->SetNull();
  return fill.result;
}

// True when `text` nests arrays and objects deeper than kMaxDepth before any syntax error: the
// check for JSON that is passed on as text without being parsed here. Builds no DOM.
[[nodiscard]] inline bool nestsTooDeep(std::string_view text) {
  // Every level opens with a bracket, so a text with few brackets (nearly all of them) is
  // settled by counting them, without tokenising it.
  size_t openers = 0;
  for (char c : text) openers += (c == '[') | (c == '{');
  if (openers <= kMaxDepth) return false;
  rapidjson::BaseReaderHandler<> ignore;
  return detail::readBounded<rapidjson::kParseDefaultFlags>(text, ignore).tooDeep();
}

}  // namespace outrigger::json
