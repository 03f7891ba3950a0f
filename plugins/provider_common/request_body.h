// Writing an HTTP provider's request body. JSON text that arrives inside the request (tool
// schemas, response schemas, tool call arguments, extra fields) is parsed within json::kMaxDepth
// before it is embedded, because the request may come from code that never went through the
// chain's own check (a provider can be called in-process). The first field that nests deeper is
// remembered and the provider refuses the request with tooDeepRequest() instead of sending it.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/writer.h>

#include <string>
#include <string_view>

#include "json_buffer.h"
#include "wire_common.h"

namespace outrigger::providers {

// How embed() writes request text that is not JSON at all.
enum class NotJson { kAsString, kAsEmptyObject };

// Into a JsonBuffer rather than RapidJSON's StringBuffer: a request body is mostly short strings,
// which it copies faster (json_buffer.h).
class BodyWriter : public rapidjson::Writer<json::JsonBuffer> {
 public:
  explicit BodyWriter(json::JsonBuffer& out) : Writer(out) {}

  // Parses the request's `text` into `doc`. False when it is not JSON, or when it nests too
  // deeply, in which case `field` (e.g. "params.extra_json") is noted.
  bool parse(std::string_view text, std::string_view field, rapidjson::Document* doc);
  // Writes the request's JSON `text` as a value. Text that is not JSON goes as a string, or as
  // {} (kAsEmptyObject), so the body stays valid and the upstream reports the problem; text that
  // nests too deeply goes as null and `field` is noted.
  void embed(std::string_view text, std::string_view field, NotJson not_json = NotJson::kAsString);
  // The finished body into `body`; false, with tooDeepRequest() in `failure`, when a field
  // nested too deeply (the body must not be sent).
  bool finish(std::string* body, Failure* failure) const;
  // Writes a sampling parameter the wire carries as a float (temperature, top_p) as the shortest
  // decimal that reads back as that float: 0.3f goes as 0.3, which is what the caller sent, where
  // widening to double would send 0.30000001192092896.
  void shortestFloat(float value);

 private:
  std::string too_deep_;
};

// A request refused for its `field` nesting deeper than json::kMaxDepth: INVALID_ARGUMENT, not
// retryable, the message naming the field and the limit.
Failure tooDeepRequest(std::string_view field);

}  // namespace outrigger::providers
