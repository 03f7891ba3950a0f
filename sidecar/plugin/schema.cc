#include "plugin/schema.h"

// Without this valijson reports a schema it cannot use (an unknown type name, a bad $ref) by
// calling abort(); with it, by throwing, which compileSchema turns into INVALID_ARGUMENT.
#define VALIJSON_USE_EXCEPTIONS 1

#include <rapidjson/document.h>
#include <valijson/adapters/rapidjson_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include <pthread.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "bounded_json.h"
#include "schema_guards.h"

namespace outrigger::plugin {

struct ConfigSchema {
  rapidjson::Document doc;  // valijson keeps pointers into the document
  valijson::Schema schema;
  bool has_patterns = false;  // "pattern" or "patternProperties" anywhere: std::regex will run
};

namespace {

using json::hasInvalidUtf8;
using json::inPlaceSubschemas;
using json::refOf;

// valijson follows a $ref to a node that is itself only a $ref without noticing a cycle
// ("degenerate circular references" are a TODO there), so {"$ref": "#"} recursed until the stack
// overflowed; and a $ref with thousands of slashes does the same. The reason to refuse the
// schema for, or empty when valijson can be given it.
std::string unusableRefs(const rapidjson::Document& doc) {
  std::vector<const rapidjson::Value*> todo{&doc};
  std::unordered_set<const rapidjson::Value*> ends;  // $refs known to lead out of any cycle
  while (!todo.empty()) {
    const rapidjson::Value* v = todo.back();
    todo.pop_back();
    if (v->IsObject()) {
      for (const auto& m : v->GetObject()) todo.push_back(&m.value);
    } else if (v->IsArray()) {
      for (const auto& e : v->GetArray()) todo.push_back(&e);
    }
    std::unordered_set<const rapidjson::Value*> chain;
    for (const rapidjson::Value* at = v; const rapidjson::Value* ref = refOf(*at);) {
      std::string_view text(ref->GetString(), ref->GetStringLength());
      if (std::string why = json::refProblem(text); !why.empty()) return why;
      if (ends.count(at) || !chain.insert(at).second) break;
      at = json::resolveRef(doc, text);
      if (!at) break;
      if (chain.count(at)) return "$ref \"" + std::string(text) + "\" refers to itself only";
    }
    ends.insert(chain.begin(), chain.end());
  }
  return {};
}

// True when the in-place edges (json::inPlaceSubschemas) form a cycle anywhere in `doc` (iterative depth-first search).
bool hasInPlaceCycle(const rapidjson::Document& doc) {
  enum class Mark { kOnPath, kDone };
  std::unordered_map<const rapidjson::Value*, Mark> marks;
  std::vector<const rapidjson::Value*> nodes{&doc};
  for (size_t i = 0; i < nodes.size(); ++i) {  // every object in the document is a start
    const rapidjson::Value* v = nodes[i];
    if (v->IsObject()) {
      for (const auto& m : v->GetObject()) nodes.push_back(&m.value);
    } else if (v->IsArray()) {
      for (const auto& e : v->GetArray()) nodes.push_back(&e);
    }
  }
  for (const rapidjson::Value* start : nodes) {
    if (!start->IsObject() || marks.count(start)) continue;
    std::vector<std::pair<const rapidjson::Value*, std::vector<const rapidjson::Value*>>> path;
    marks[start] = Mark::kOnPath;
    path.push_back({start, inPlaceSubschemas(doc, *start)});
    while (!path.empty()) {
      auto& [node, next] = path.back();
      if (next.empty()) {
        marks[node] = Mark::kDone;
        path.pop_back();
        continue;
      }
      const rapidjson::Value* child = next.back();
      next.pop_back();
      auto it = marks.find(child);
      if (it != marks.end()) {
        if (it->second == Mark::kOnPath) return true;
        continue;
      }
      marks[child] = Mark::kOnPath;
      path.push_back({child, inPlaceSubschemas(doc, *child)});
    }
  }
  return false;
}

// valijson checks "pattern" with std::regex, whose matcher recurses once per character of the
// input: about 300 bytes of stack each, so a 30,000-character value overflowed the main thread's
// 8 MiB. Values checked against patterns are bounded, and validation runs on a thread whose stack
// holds the longest one with room to spare (reserved, not touched, until a long value needs it).
constexpr size_t kMaxPatternInput = 64 * 1024;
constexpr size_t kValidationStack = 128u << 20;

// True when some member anywhere in `v` satisfies `match(name, value)` (iterative walk).
template <class Match>
bool anyMember(const rapidjson::Value& v, Match&& match) {
  std::vector<const rapidjson::Value*> todo{&v};
  while (!todo.empty()) {
    const rapidjson::Value* at = todo.back();
    todo.pop_back();
    if (at->IsObject()) {
      for (const auto& m : at->GetObject()) {
        if (match(std::string_view(m.name.GetString(), m.name.GetStringLength()), m.value)) return true;
        todo.push_back(&m.value);
      }
    } else if (at->IsArray()) {
      for (const auto& e : at->GetArray()) todo.push_back(&e);
    }
  }
  return false;
}

bool usesPatterns(const rapidjson::Value& v) {
  return anyMember(v, [](std::string_view name, const rapidjson::Value&) {
    return name == "pattern" || name == "patternProperties";
  });
}

// True when a "multipleOf" in `v` is a number that is not positive, or a string (valijson reads
// "0" as 0): valijson divides by it, and an integer value checked against 0 stops the process
// (SIGFPE). A property named "multipleOf" has an object for its value.
bool hasBadMultipleOf(const rapidjson::Value& v) {
  return anyMember(v, [](std::string_view name, const rapidjson::Value& value) {
    return name == "multipleOf" && (value.IsNumber() ? !(value.GetDouble() > 0) : value.IsString());
  });
}

// True when an "id" in `v` is not an object (a property named "id"): valijson takes a schema's
// id as the base its $refs resolve against, and a relative one grows at each pass through a
// recursive $ref ("a", "aa", ...), so parsing recursed until the stack overflowed.
bool hasSchemaId(const rapidjson::Value& v) {
  return anyMember(v, [](std::string_view name, const rapidjson::Value& value) {
    return name == "id" && !value.IsObject();
  });
}

// True when a string or a member name in `v` is longer than kMaxPatternInput.
bool hasLongString(const rapidjson::Value& v) {
  std::vector<const rapidjson::Value*> todo{&v};
  while (!todo.empty()) {
    const rapidjson::Value* at = todo.back();
    todo.pop_back();
    if (at->IsString() && at->GetStringLength() > kMaxPatternInput) return true;
    if (at->IsObject()) {
      for (const auto& m : at->GetObject()) {
        if (m.name.GetStringLength() > kMaxPatternInput) return true;
        todo.push_back(&m.value);
      }
    } else if (at->IsArray()) {
      for (const auto& e : at->GetArray()) todo.push_back(&e);
    }
  }
  return false;
}

// Runs `fn` on a thread with a `stack`-byte stack and waits for it; false when no such thread
// could be made.
bool runOnLargeStack(size_t stack, const std::function<void()>& fn) {
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) != 0) return false;
  pthread_attr_setstacksize(&attr, stack);
  pthread_t thread;
  auto trampoline = [](void* arg) -> void* {
    (*static_cast<const std::function<void()>*>(arg))();
    return nullptr;
  };
  int rc = pthread_create(&thread, &attr, trampoline, const_cast<std::function<void()>*>(&fn));
  pthread_attr_destroy(&attr);
  if (rc != 0) return false;
  pthread_join(thread, nullptr);
  return true;
}

}  // namespace

Expected<std::shared_ptr<const ConfigSchema>> compileSchema(std::string_view schema_json) {
  auto out = std::make_shared<ConfigSchema>();
  json::ParseResult parsed = json::parse(schema_json, &out->doc);
  if (parsed.tooDeep()) return Status(Code::kInvalidArgument, "config schema is " + json::tooDeepReason());
  if (!parsed) return Status(Code::kInvalidArgument, "config schema is not JSON: " + parsed.reason());
  if (std::string why = unusableRefs(out->doc); !why.empty()) {
    return Status(Code::kInvalidArgument, "config schema is not valid JSON Schema: " + why);
  }
  if (hasInPlaceCycle(out->doc)) {
    return Status(Code::kInvalidArgument,
                  "config schema is not valid JSON Schema: a $ref cycle through allOf/anyOf/oneOf/not/if/then/else "
                  "applies a schema to the same value without end");
  }
  if (hasSchemaId(out->doc)) {
    return Status(Code::kInvalidArgument, "config schema is not valid JSON Schema: \"id\" is not supported (a $ref points into the schema itself)");
  }
  if (hasBadMultipleOf(out->doc)) {
    return Status(Code::kInvalidArgument, "config schema is not valid JSON Schema: \"multipleOf\" must be greater than 0");
  }
  try {
    valijson::SchemaParser parser;
    valijson::adapters::RapidJsonAdapter adapter(out->doc);
    parser.populateSchema(adapter, out->schema);
  } catch (const std::exception& e) {
    return Status(Code::kInvalidArgument, std::string("config schema is not valid JSON Schema: ") + e.what());
  }
  out->has_patterns = usesPatterns(out->doc);
  return std::shared_ptr<const ConfigSchema>(std::move(out));
}

namespace {

// valijson context is {"<root>", "[key]", "[0]" ...}; turn it into a JSON pointer.
std::string pointerOf(const std::vector<std::string>& context) {
  std::string p;
  for (const std::string& c : context) {
    if (c.size() >= 2 && c.front() == '[' && c.back() == ']') {
      std::string inner = c.substr(1, c.size() - 2);
      if (inner.size() >= 2 && inner.front() == '"' && inner.back() == '"') {
        inner = inner.substr(1, inner.size() - 2);
      }
      p += "/" + inner;
    }
  }
  return p;
}

}  // namespace

Status validateConfig(const ConfigSchema& schema, std::string_view config_json,
                      const std::map<std::string, std::string>& lines) {
  rapidjson::Document doc;
  json::ParseResult parsed = json::parse(config_json, &doc);
  if (parsed.tooDeep()) return Status(Code::kInvalidArgument, "config is " + json::tooDeepReason());
  if (!parsed) return Status(Code::kInvalidArgument, "config is not valid JSON");
  if (hasInvalidUtf8(doc)) return Status(Code::kInvalidArgument, "config has a string that is not valid UTF-8");
  if (schema.has_patterns && hasLongString(doc)) {
    return Status(Code::kInvalidArgument, "config has a value longer than " + std::to_string(kMaxPatternInput) +
                                              " bytes, more than its schema's patterns can check");
  }
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::RapidJsonAdapter adapter(doc);
  bool valid = false;
  std::string thrown;
  auto validate = [&] {
    try {
      valid = validator.validate(schema.schema, adapter, &results);
    } catch (const std::exception& e) {  // a pattern std::regex refuses is only compiled here
      thrown = e.what();
    }
  };
  if (!schema.has_patterns) {
    validate();
  } else if (!runOnLargeStack(kValidationStack, validate)) {
    return Status(Code::kResourceExhausted, "config cannot be checked against the schema: no thread to check it on");
  }
  if (!thrown.empty()) {
    return Status(Code::kInvalidArgument, "config cannot be checked against the schema: " + thrown);
  }
  if (valid) return Status::ok();
  // The deepest error is the most specific one.
  valijson::ValidationResults::Error best, e;
  while (results.popError(e)) {
    if (best.context.empty() || e.context.size() > best.context.size()) best = e;
  }
  std::string pointer = pointerOf(best.context);
  std::string where;
  for (std::string p = pointer;; ) {
    auto it = lines.find(p);
    if (it != lines.end()) {
      where = it->second;
      break;
    }
    if (p.empty()) break;
    p = p.substr(0, p.rfind('/'));
  }
  std::string key = pointer.empty() ? "config" : "config" + pointer;
  return Status(Code::kInvalidArgument,
                (where.empty() ? "" : where + ": ") + key + ": " + best.description);
}

}  // namespace outrigger::plugin
