#include "json_strings.h"

#include <rapidjson/encodedstream.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <vector>

namespace outrigger::pii {
namespace {

// Iterative: neither the reader nor the writer recurses, so any nesting is read (the bound of
// bounded_json.h protects recursive walks over a Document; none is made here).
constexpr unsigned kFlags =
    rapidjson::kParseIterativeFlag | rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseValidateEncodingFlag;

// True when `text` is UTF-8 throughout (RapidJSON's own decoder, which refuses surrogates).
bool wholeUtf8(std::string_view text) {
  rapidjson::MemoryStream in(text.data(), text.size());
  struct Discard {
    void Put(char) {}
  } sink;
  while (in.Tell() < text.size()) {
    if (!rapidjson::UTF8<>::Validate(in, sink)) return false;
  }
  return true;
}

// SAX events into a writer, each string through the rewrite, with the key it sits under.
class Rewriter {
 public:
  using Ch = char;
  explicit Rewriter(const StringRewrite& rewrite) : rewrite_(rewrite), writer_(buffer_) {}

  bool Null() { return writer_.Null(); }
  bool Bool(bool b) { return writer_.Bool(b); }
  bool Int(int i) { return writer_.Int(i); }
  bool Uint(unsigned u) { return writer_.Uint(u); }
  bool Int64(int64_t i) { return writer_.Int64(i); }
  bool Uint64(uint64_t u) { return writer_.Uint64(u); }
  bool Double(double d) { return writer_.Double(d); }
  bool RawNumber(const Ch* s, rapidjson::SizeType n, bool) {
    if (!apply(under(), s, n)) return false;
    if (scratch_ == std::string_view(s, n)) return writer_.RawValue(s, n, rapidjson::kNumberType);
    changed_ = true;
    return writer_.String(scratch_.data(), rapidjson::SizeType(scratch_.size()), true);
  }
  bool String(const Ch* s, rapidjson::SizeType n, bool) {
    return apply(under(), s, n) && writer_.String(scratch_.data(), rapidjson::SizeType(scratch_.size()), true);
  }
  bool Key(const Ch* s, rapidjson::SizeType n, bool) {
    if (!apply({}, s, n)) return false;
    keys_.back().assign(s, n);  // the values that follow sit under it, as sent
    return writer_.Key(scratch_.data(), rapidjson::SizeType(scratch_.size()), true);
  }
  bool StartObject() {
    keys_.emplace_back();
    levels_.push_back(keys_.size() - 1);
    return writer_.StartObject();
  }
  bool EndObject(rapidjson::SizeType n) {
    levels_.pop_back();
    keys_.pop_back();
    return writer_.EndObject(n);
  }
  bool StartArray() {
    // An array's elements sit under its member's key: a reference to it, not a copy, so a
    // deep nest of arrays under a long key costs a word a level.
    levels_.push_back(levels_.empty() ? kNoKey : levels_.back());
    return writer_.StartArray();
  }
  bool EndArray(rapidjson::SizeType n) {
    levels_.pop_back();
    return writer_.EndArray(n);
  }

  bool stopped() const { return stopped_; }
  bool unreadable() const { return unreadable_; }
  bool changed() const { return changed_; }
  std::string_view text() const { return {buffer_.GetString(), buffer_.GetSize()}; }

 private:
  std::string_view under() const {
    return levels_.empty() || levels_.back() == kNoKey ? std::string_view() : std::string_view(keys_[levels_.back()]);
  }
  bool apply(std::string_view key, const Ch* s, rapidjson::SizeType n) {
    // RapidJSON 1.1 decodes a lone low surrogate escape (\udc00) into bytes that are not UTF-8,
    // which a rewritten text would carry out unescaped.
    if (!wholeUtf8(std::string_view(s, n))) {
      unreadable_ = stopped_ = true;
      return false;
    }
    scratch_.clear();
    if (!rewrite_(key, std::string_view(s, n), &scratch_)) {
      stopped_ = true;
      return false;
    }
    changed_ = changed_ || scratch_ != std::string_view(s, n);
    return true;
  }

  const StringRewrite& rewrite_;
  rapidjson::StringBuffer buffer_;
  rapidjson::Writer<rapidjson::StringBuffer> writer_;
  static constexpr size_t kNoKey = static_cast<size_t>(-1);
  std::vector<std::string> keys_;  // one per open object: its current member's key
  std::vector<size_t> levels_;     // per open object or array: the index of the key it sits under
  std::string scratch_;
  bool stopped_ = false, changed_ = false, unreadable_ = false;
};

// Reads the one JSON value at the start of `json` into `handler`; `*length`: the bytes it took.
template <typename Handler>
rapidjson::ParseErrorCode readValue(std::string_view json, Handler& handler, size_t* length) {
  rapidjson::MemoryStream bytes(json.data(), json.size());
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> in(bytes);
  rapidjson::Reader reader;
  rapidjson::ParseErrorCode code = reader.Parse<kFlags | rapidjson::kParseStopWhenDoneFlag>(in, handler).Code();
  *length = in.Tell();
  return code;
}

size_t skipSpace(std::string_view json, size_t at) {
  while (at < json.size() && (json[at] == ' ' || json[at] == '\t' || json[at] == '\n' || json[at] == '\r')) ++at;
  return at;
}

// Errors RapidJSON gives text that is JSON all the same (RFC 8259 sets no bound on numbers, and
// allows a lone surrogate escape).
bool jsonAllTheSame(rapidjson::ParseErrorCode code) {
  return code == rapidjson::kParseErrorNumberTooBig || code == rapidjson::kParseErrorStringUnicodeSurrogateInvalid;
}

}  // namespace

JsonRewrite rewriteJsonStrings(std::string_view json, const StringRewrite& rewrite, std::string* out) {
  // The values, one or several (JSON lines, objects back to back), checked whole first: a
  // rewrite that saw half a text before its syntax error would have counted detections and
  // numbered placeholders the caller then makes again from the text.
  std::vector<std::pair<size_t, size_t>> values;  // [from, to)
  for (size_t at = skipSpace(json, 0); at < json.size(); at = skipSpace(json, values.back().second)) {
    rapidjson::BaseReaderHandler<> check;
    size_t length = 0;
    if (rapidjson::ParseErrorCode code = readValue(json.substr(at), check, &length); code != rapidjson::kParseErrorNone) {
      return jsonAllTheSame(code) ? JsonRewrite::kUnreadable : JsonRewrite::kNotJson;
    }
    values.emplace_back(at, at + length);
  }
  // Several values are JSON lines or objects back to back only when each is an object or an
  // array: "4111 1111 1111 1111" reads as four numbers, and "415-555-2671" as three, which
  // scanned one by one hide the card and the phone number the text is.
  if (values.size() > 1) {
    for (const auto& [from, to] : values) {
      if (json[from] != '{' && json[from] != '[') return JsonRewrite::kNotJson;
    }
  }
  if (values.empty()) return JsonRewrite::kNotJson;
  // Each value rewritten; the space between them kept as it was.
  std::string result;
  bool changed = false;
  size_t written = 0;
  for (const auto& [from, to] : values) {
    result.append(json.substr(written, from - written));
    Rewriter rewriter(rewrite);
    size_t length = 0;
    if (readValue(json.substr(from, to - from), rewriter, &length) != rapidjson::kParseErrorNone) {
      if (rewriter.unreadable()) return JsonRewrite::kUnreadable;
      return rewriter.stopped() ? JsonRewrite::kStopped : JsonRewrite::kNotJson;
    }
    changed = changed || rewriter.changed();
    result.append(rewriter.changed() ? rewriter.text() : json.substr(from, to - from));
    written = to;
  }
  result.append(json.substr(written));
  out->assign(changed ? std::string_view(result) : json);
  return JsonRewrite::kDone;
}

}  // namespace outrigger::pii
