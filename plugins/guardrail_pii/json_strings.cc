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
    return writer_.StartObject();
  }
  bool EndObject(rapidjson::SizeType n) {
    keys_.pop_back();
    return writer_.EndObject(n);
  }
  bool StartArray() {
    keys_.emplace_back(under());  // an array's elements sit under its member's key
    return writer_.StartArray();
  }
  bool EndArray(rapidjson::SizeType n) {
    keys_.pop_back();
    return writer_.EndArray(n);
  }

  bool stopped() const { return stopped_; }
  bool changed() const { return changed_; }
  std::string_view text() const { return {buffer_.GetString(), buffer_.GetSize()}; }

 private:
  std::string under() const { return keys_.empty() ? std::string() : keys_.back(); }
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
  std::vector<std::string> keys_;
  std::string scratch_;
  bool stopped_ = false, changed_ = false;
};

template <typename Handler>
bool read(std::string_view json, Handler& handler) {
  rapidjson::MemoryStream bytes(json.data(), json.size());
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> in(bytes);
  rapidjson::Reader reader;
  return !reader.Parse<kFlags>(in, handler).IsError();
}

}  // namespace

JsonRewrite rewriteJsonStrings(std::string_view json, const StringRewrite& rewrite, std::string* out) {
  // Checked whole first: a rewrite that saw half a text before its syntax error would have
  // counted detections and numbered placeholders the caller then makes again from the text.
  rapidjson::BaseReaderHandler<> check;
  if (!read(json, check)) return JsonRewrite::kNotJson;
  Rewriter rewriter(rewrite);
  if (!read(json, rewriter)) return rewriter.stopped() ? JsonRewrite::kStopped : JsonRewrite::kNotJson;
  out->assign(rewriter.changed() ? rewriter.text() : json);
  return JsonRewrite::kDone;
}

}  // namespace outrigger::pii
