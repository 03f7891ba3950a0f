// Bounded embedding of request JSON into provider request bodies (see request_body.h).
#include "request_body.h"

#include <charconv>
#include <cmath>

#include "bounded_json.h"

namespace outrigger::providers {

bool BodyWriter::parse(std::string_view text, std::string_view field, rapidjson::Document* doc) {
  json::ParseResult parsed = json::parse(text, doc);
  if (parsed.tooDeep() && too_deep_.empty()) too_deep_ = std::string(field);
  return parsed.ok();
}

void BodyWriter::embed(std::string_view text, std::string_view field, NotJson not_json) {
  rapidjson::Document doc;
  json::ParseResult parsed = json::parse(text, &doc);
  if (parsed) {
    doc.Accept(*this);  // recursive, but over a tree at most json::kMaxDepth deep
  } else if (parsed.tooDeep()) {
    Null();  // keeps the writer's nesting balanced; the body is never sent
    if (too_deep_.empty()) too_deep_ = std::string(field);
  } else if (not_json == NotJson::kAsEmptyObject) {
    StartObject();
    EndObject();
  } else {
    String(text.data() ? text.data() : "", rapidjson::SizeType(text.size()));
  }
}

bool BodyWriter::finish(std::string* body, Failure* failure) const {
  if (!too_deep_.empty()) {
    *failure = tooDeepRequest(too_deep_);
    return false;
  }
  body->assign(os_->view());
  return true;
}

void BodyWriter::shortestFloat(float value) {
  if (!std::isfinite(value)) {  // JSON has no NaN or infinity; the chain bounds these anyway
    Null();
    return;
  }
  char text[32];
  auto [end, ec] = std::to_chars(text, text + sizeof text, value);
  if (ec != std::errc()) {
    Double(value);
    return;
  }
  RawValue(text, static_cast<size_t>(end - text), rapidjson::kNumberType);
}

Failure tooDeepRequest(std::string_view field) {
  return Failure{OUTRIGGER_CODE_INVALID_ARGUMENT, false, 0, std::string(field) + ": " + json::tooDeepReason()};
}

}  // namespace outrigger::providers
