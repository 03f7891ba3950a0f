// libFuzzer target for the JSON Schemas callers send (guardrail.json compiles a request's
// response_format and tool parameters) and the answers validated against them. The input is a
// schema and an answer separated by the first NUL byte; without one, the input is both. Besides
// not crashing, throwing or recursing without bound, a refused schema says why, and validating
// the same answer twice gives the same verdict.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bounded_json.h"
#include "schema_check.h"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t cut = in.find('\0');
  std::string_view schema_text = in.substr(0, cut);
  std::string_view answer_text = cut == std::string_view::npos ? in : in.substr(cut + 1);
  using namespace outrigger::jsonguard;
  CompileResult compiled = compileSchema(schema_text, SchemaSource::kCaller, SchemaLimits{});
  check(compiled.schema || !compiled.error.empty());
  if (!compiled.schema) return 0;
  rapidjson::Document answer;
  if (!outrigger::json::parse(answer_text, &answer)) return 0;
  std::vector<std::string> first, second;
  bool ok = validate(*compiled.schema, answer, 8, &first);
  check(ok == validate(*compiled.schema, answer, 8, &second));
  check(ok || !first.empty());
  return 0;
}
