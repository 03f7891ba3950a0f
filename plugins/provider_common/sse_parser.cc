#include "sse_parser.h"

namespace outrigger::providers {

bool SseParser::feed(std::string_view bytes, std::vector<SseEvent>& out) {
  size_t i = 0;
  if (!bom_decided_) {
    // WHATWG: one leading U+FEFF is dropped (read as part of the first field's name, it would
    // lose the first event). Its three bytes may come in separate pieces.
    static constexpr std::string_view kBom = "\xEF\xBB\xBF";
    while (i < bytes.size() && bom_matched_ < kBom.size() && bytes[i] == kBom[bom_matched_]) ++i, ++bom_matched_;
    if (bom_matched_ == kBom.size()) {
      bom_decided_ = true;
    } else if (i < bytes.size()) {
      bom_decided_ = true;
      line_.append(kBom.substr(0, bom_matched_));  // not a BOM after all: those bytes are text
    }
  }
  if (pending_cr_ && !bytes.empty()) {
    pending_cr_ = false;
    if (bytes[0] == '\n') i = 1;  // the LF of a CRLF split across pieces
  }
  while (i < bytes.size()) {
    size_t end = bytes.find_first_of("\r\n", i);
    if (end == std::string_view::npos) {
      line_.append(bytes.substr(i));
      break;
    }
    line_.append(bytes.substr(i, end - i));
    if (bytes[end] == '\r') {
      if (end + 1 == bytes.size()) pending_cr_ = true;
      else if (bytes[end + 1] == '\n') ++end;
    }
    i = end + 1;
    line(line_, out);
    line_.clear();
  }
  return line_.size() + current_.data.size() <= max_event_bytes_;
}

void SseParser::line(std::string_view text, std::vector<SseEvent>& out) {
  if (text.empty()) {
    if (has_data_ || !current_.event.empty()) out.push_back(std::move(current_));
    current_ = SseEvent{};
    has_fields_ = has_data_ = false;
    return;
  }
  if (text[0] == ':') return;  // comment, e.g. a keep-alive
  size_t colon = text.find(':');
  std::string_view field = text.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? std::string_view() : text.substr(colon + 1);
  if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
  has_fields_ = true;
  if (field == "data") {
    if (has_data_) current_.data.push_back('\n');
    current_.data.append(value);
    has_data_ = true;
  } else if (field == "event") {
    current_.event.assign(value);
  } else if (field == "id") {
    current_.id.assign(value);
  }
  // "retry" and unknown fields are ignored: the host owns reconnection policy.
}

}  // namespace outrigger::providers
