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
  bool changed() const { return changed_; }
  std::string_view text() const { return {buffer_.GetString(), buffer_.GetSize()}; }

 private:
  std::string_view under() const {
    return levels_.empty() || levels_.back() == kNoKey ? std::string_view() : std::string_view(keys_[levels_.back()]);
  }
  bool apply(std::string_view key, const Ch* s, rapidjson::SizeType n) {
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
  bool stopped_ = false, changed_ = false;
};

template <typename Handler>
rapidjson::ParseErrorCode read(std::string_view json, Handler& handler) {
  rapidjson::MemoryStream bytes(json.data(), json.size());
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> in(bytes);
  rapidjson::Reader reader;
  return reader.Parse<kFlags>(in, handler).Code();
}

// Errors RapidJSON gives text that is JSON all the same (RFC 8259 sets no bound on numbers, and
// allows a lone surrogate escape).
bool jsonAllTheSame(rapidjson::ParseErrorCode code) {
  return code == rapidjson::kParseErrorNumberTooBig || code == rapidjson::kParseErrorStringUnicodeSurrogateInvalid;
}

}  // namespace

JsonRewrite rewriteJsonStrings(std::string_view json, const StringRewrite& rewrite, std::string* out) {
  // Checked whole first: a rewrite that saw half a text before its syntax error would have
  // counted detections and numbered placeholders the caller then makes again from the text.
  rapidjson::BaseReaderHandler<> check;
  if (rapidjson::ParseErrorCode code = read(json, check); code != rapidjson::kParseErrorNone) {
    return jsonAllTheSame(code) ? JsonRewrite::kUnreadable : JsonRewrite::kNotJson;
  }
  Rewriter rewriter(rewrite);
  if (read(json, rewriter) != rapidjson::kParseErrorNone) return rewriter.stopped() ? JsonRewrite::kStopped : JsonRewrite::kNotJson;
  out->assign(rewriter.changed() ? rewriter.text() : json);
  return JsonRewrite::kDone;
}

}  // namespace outrigger::pii
