// An incremental parser for text/event-stream (the WHATWG server-sent events format), fed
// arbitrary byte pieces as they arrive. Lines end in LF, CRLF or CR (a CR at the end of a
// piece waits for the next piece to know whether an LF follows). Fields: "event", "data"
// (several data lines join with LF), "id", "retry"; lines starting with ':' are comments.
// An event is dispatched at a blank line; an event with neither data nor a name is dropped.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace outrigger::providers {

struct SseEvent {
  std::string event;  // empty: the default "message"
  std::string data;
  std::string id;
};

class SseParser {
 public:
  // Bounds the bytes of one unfinished event; feed() fails past it.
  explicit SseParser(size_t max_event_bytes = 4 << 20) : max_event_bytes_(max_event_bytes) {}

  // Parses `bytes`, appending every completed event to `out`. False when an event grew past
  // the bound (the stream should then be abandoned).
  bool feed(std::string_view bytes, std::vector<SseEvent>& out);

  // True when bytes of an unfinished event are buffered (a stream that ends here was cut).
  bool midEvent() const { return !line_.empty() || has_fields_; }

 private:
  void line(std::string_view text, std::vector<SseEvent>& out);

  size_t max_event_bytes_;
  std::string line_;
  bool pending_cr_ = false;  // the last piece ended in CR
  bool bom_decided_ = false;  // whether the stream began with a byte order mark is known
  size_t bom_matched_ = 0;    // the mark's bytes seen so far, while it is not
  SseEvent current_;
  bool has_fields_ = false;
  bool has_data_ = false;
};

}  // namespace outrigger::providers
