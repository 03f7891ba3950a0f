#include "json_strings.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "bounded_json.h"

namespace outrigger::pii {
namespace {

constexpr unsigned kFlags = rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseValidateEncodingFlag;

// SAX events into a writer, each string through the rewrite.
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
    if (!apply(s, n)) return false;
    if (scratch_ == std::string_view(s, n)) return writer_.RawValue(s, n, rapidjson::kNumberType);
    changed_ = true;
    return writer_.String(scratch_.data(), rapidjson::SizeType(scratch_.size()), true);
  }
  bool String(const Ch* s, rapidjson::SizeType n, bool) {
    return apply(s, n) && writer_.String(scratch_.data(), rapidjson::SizeType(scratch_.size()), true);
  }
  bool Key(const Ch* s, rapidjson::SizeType n, bool) {
    return apply(s, n) && writer_.Key(scratch_.data(), rapidjson::SizeType(scratch_.size()), true);
  }
  bool StartObject() { return writer_.StartObject(); }
  bool EndObject(rapidjson::SizeType n) { return writer_.EndObject(n); }
  bool StartArray() { return writer_.StartArray(); }
  bool EndArray(rapidjson::SizeType n) { return writer_.EndArray(n); }

  bool stopped() const { return stopped_; }
  bool changed() const { return changed_; }
  std::string_view text() const { return {buffer_.GetString(), buffer_.GetSize()}; }

 private:
  bool apply(const Ch* s, rapidjson::SizeType n) {
    scratch_.clear();
    if (!rewrite_(std::string_view(s, n), &scratch_)) {
      stopped_ = true;
      return false;
    }
    changed_ = changed_ || scratch_ != std::string_view(s, n);
    return true;
  }

  const StringRewrite& rewrite_;
  rapidjson::StringBuffer buffer_;
  rapidjson::Writer<rapidjson::StringBuffer> writer_;
  std::string scratch_;
  bool stopped_ = false, changed_ = false;
};

}  // namespace

JsonRewrite rewriteJsonStrings(std::string_view json, const StringRewrite& rewrite, std::string* out) {
  // Checked whole first: a rewrite that saw half a text before its syntax error would have
  // counted detections and numbered placeholders the caller then makes again from the text.
  rapidjson::BaseReaderHandler<> check;
  if (!json::detail::readBounded<kFlags>(json, check).ok()) return JsonRewrite::kNotJson;
  Rewriter rewriter(rewrite);
  if (!json::detail::readBounded<kFlags>(json, rewriter).ok()) {
    return rewriter.stopped() ? JsonRewrite::kStopped : JsonRewrite::kNotJson;
  }
  out->assign(rewriter.changed() ? rewriter.text() : json);
  return JsonRewrite::kDone;
}

}  // namespace outrigger::pii
