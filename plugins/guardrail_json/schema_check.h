// JSON Schema checks for guardrail.json: compiling a schema (valijson over RapidJSON) with the
// guards hostile schemas need, and validating a parsed value against it.
//
// Schemas come from two places. The operator's config is trusted as the daemon's own plugin
// schemas are (sidecar/plugin/schema.cc, whose guards these mirror). A caller's response_format
// or tool parameters are not: they are bounded in size and depth, their "pattern" keywords are
// dropped and "patternProperties" refused (valijson runs them with std::regex, which backtracks
// without bound and recurses once per character), a "multipleOf" that is not positive is refused
// (valijson divides by it as an integer), and the number of schemas one value may be checked
// against through $ref/allOf/anyOf/oneOf/not/if/then/else/dependencies is bounded, in place and
// at every depth of the answer (a small schema can otherwise fan out exponentially, and a
// recursive one multiply at each level of nesting). Whatever the source, what valijson would do
// with an answer is bounded before it runs: schema applications over the whole answer, and the
// strings and arrays it would hand to regular expressions or uniqueItems.
//
// Thread: a CompiledSchema is immutable once built and may be shared; validate() keeps no state.
#pragma once

#include <rapidjson/document.h>

#include <cstddef>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace outrigger::jsonguard {

enum class SchemaSource { kConfig, kCaller };

struct SchemaLimits {
  size_t max_bytes = 64 * 1024;  // a caller's schema text
  unsigned max_depth = 32;       // nesting of a caller's schema (arrays and objects)
  size_t max_fanout = 10000;     // schemas one value may be checked against, at any depth
  // Schema applications one answer may take: each value times the schemas that may apply to it,
  // an entry of an enum or required list counting as one. A costlier answer fails its check with
  // a reason, unchecked (valijson takes about 60 ns an application).
  size_t max_answer_checks = 1000000;
};

// Strings longer than this are not handed to valijson when the schema checks a "pattern" or a
// "format" (std::regex recurses once per character: about 300 bytes of stack each, and the
// worker threads have the default 8 MiB).
inline constexpr size_t kMaxRegexInput = 4096;
// Arrays longer than this are not handed to valijson when the schema asks for "uniqueItems"
// (it compares every pair of items).
inline constexpr size_t kMaxUniqueItems = 2048;

class CompiledSchema;

struct CompileResult {
  std::shared_ptr<const CompiledSchema> schema;  // null when refused
  std::string error;                             // why it was refused
  size_t dropped_patterns = 0;                   // caller "pattern" keywords not enforced
};

// Compiles `text` as a JSON Schema (draft 4 to 7 as valijson reads them). Never throws.
CompileResult compileSchema(std::string_view text, SchemaSource source, const SchemaLimits& limits);

// Validates `value`. On failure, `errors` gets at most `max_errors` lines such as
// "/items/0/price: Value should be at least 0" (a JSON pointer into the value, then valijson's
// words), the most specific first. Never throws.
bool validate(const CompiledSchema& schema, const rapidjson::Value& value, size_t max_errors,
              std::vector<std::string>* errors);

// The schemas of recent requests, by text, so a caller that sends the same response_format on
// every request pays for compiling it once. Bounded: the least recently used entry goes.
// Thread: one instance per worker, no locking.
class SchemaCache {
 public:
  explicit SchemaCache(size_t capacity) : capacity_(capacity) {}
  // The compiled schema, or a refusal, for `text` from `source`.
  CompileResult get(std::string_view text, SchemaSource source, const SchemaLimits& limits);
  size_t size() const { return index_.size(); }

 private:
  struct Entry {
    std::string key;
    CompileResult result;
  };
  size_t capacity_;
  std::list<Entry> lru_;  // most recent first
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;
};

}  // namespace outrigger::jsonguard
