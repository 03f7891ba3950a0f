// Without this valijson reports a schema it cannot use (an unknown type name, a bad $ref) by
// calling abort(); with it, by throwing, which compileSchema turns into a refusal. Its RapidJSON
// adapter comes before any RapidJSON header, so that RapidJSON's assertions throw here too.
#define VALIJSON_USE_EXCEPTIONS 1

#include <valijson/adapters/rapidjson_adapter.hpp>

#include "schema_check.h"

#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include <algorithm>
#include <cctype>
#include <regex>
#include <unordered_map>
#include <unordered_set>

#include "bounded_json.h"
#include "schema_guards.h"

namespace outrigger::jsonguard {

class CompiledSchema {
 public:
  rapidjson::Document doc;  // valijson keeps pointers into it
  valijson::Schema schema;
  bool uses_regex = false;   // "pattern", "patternProperties" or "format": std::regex runs
  bool uses_unique = false;  // "uniqueItems": valijson compares every pair of items
};

namespace {

using Value = rapidjson::Value;

// Members whose values are data, not schemas: nothing under them is a keyword.
bool holdsData(std::string_view key) {
  return key == "enum" || key == "const" || key == "default" || key == "examples";
}

std::string_view keyOf(const Value::Member& m) { return {m.name.GetString(), m.name.GetStringLength()}; }

// Calls `fn(object, member)` for every member of every object in `root` that sits in a schema
// position (not under enum, const, default or examples). Iterative: schemas from callers nest.
template <class Fn>
void forEachKeyword(Value& root, Fn&& fn) {
  std::vector<Value*> todo{&root};
  while (!todo.empty()) {
    Value* v = todo.back();
    todo.pop_back();
    if (v->IsArray()) {
      for (auto& e : v->GetArray()) todo.push_back(&e);
    } else if (v->IsObject()) {
      for (auto& m : v->GetObject()) {
        if (!fn(*v, m)) return;
        if (!holdsData(keyOf(m))) todo.push_back(&m.value);
      }
    }
  }
}

// ---- $ref handling, as valijson reads references (json/schema_guards.h)

using json::inPlaceSubschemas;
using json::kMaxRefSlashes;
using json::refOf;

std::vector<const Value*> allNodes(const Value& doc) {
  std::vector<const Value*> nodes{&doc};
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i]->IsObject()) {
      for (const auto& m : nodes[i]->GetObject()) nodes.push_back(&m.value);
    } else if (nodes[i]->IsArray()) {
      for (const auto& e : nodes[i]->GetArray()) nodes.push_back(&e);
    }
  }
  return nodes;
}

// A reason to refuse the schema's references, or empty: a $ref with more '/' than valijson's
// recursive pointer resolution should take.
std::string longRef(const std::vector<const Value*>& nodes) {
  for (const Value* v : nodes) {
    const Value* ref = refOf(*v);
    if (!ref) continue;
    std::string_view text(ref->GetString(), ref->GetStringLength());
    if (std::count(text.begin(), text.end(), '/') > std::ptrdiff_t{kMaxRefSlashes}) {
      return "a $ref has more than " + std::to_string(kMaxRefSlashes) + " '/'";
    }
  }
  return {};
}

// How many schemas one value is checked against in place from each schema node, through the
// edges above, capped at `cap`; `cap` + 1 also when the edges form a cycle (a schema applied to
// the same value without end: valijson would recurse until the stack overflowed). Iterative
// post-order over the graph.
size_t inPlaceFanout(const Value& doc, const std::vector<const Value*>& nodes, size_t cap) {
  constexpr size_t kOnPath = SIZE_MAX;
  std::unordered_map<const Value*, size_t> fanout;  // finished nodes: their count; on the path: kOnPath
  size_t worst = 0;
  for (const Value* start : nodes) {
    if (!start->IsObject() || fanout.count(start)) continue;
    std::vector<std::pair<const Value*, std::vector<const Value*>>> path;
    fanout[start] = kOnPath;
    path.push_back({start, inPlaceSubschemas(doc, *start)});
    while (!path.empty()) {
      auto& [node, next] = path.back();
      if (next.empty()) {
        size_t total = 1;
        for (const Value* child : inPlaceSubschemas(doc, *node)) total = std::min(cap + 1, total + fanout[child]);
        fanout[node] = total;
        worst = std::max(worst, total);
        path.pop_back();
        continue;
      }
      const Value* child = next.back();
      next.pop_back();
      auto it = fanout.find(child);
      if (it != fanout.end()) {
        if (it->second == kOnPath) return cap + 1;
        continue;
      }
      fanout[child] = kOnPath;
      path.push_back({child, inPlaceSubschemas(doc, *child)});
    }
    if (worst > cap) return worst;
  }
  return worst;
}

unsigned depthOf(const Value& root) {
  unsigned deepest = 0;
  std::vector<std::pair<const Value*, unsigned>> todo{{&root, 1}};
  while (!todo.empty()) {
    auto [v, depth] = todo.back();
    todo.pop_back();
    if (!v->IsObject() && !v->IsArray()) continue;
    deepest = std::max(deepest, depth);
    if (v->IsObject()) {
      for (const auto& m : v->GetObject()) todo.push_back({&m.value, depth + 1});
    } else {
      for (const auto& e : v->GetArray()) todo.push_back({&e, depth + 1});
    }
  }
  return deepest;
}

// Caller schemas: "pattern" dropped (counted), "patternProperties" and a "multipleOf" that is not
// positive refused. Config schemas: every regex compiled once now, so a bad one fails at startup.
std::string screenKeywords(CompiledSchema* compiled, SchemaSource source, size_t* dropped) {
  std::string why;
  std::vector<std::pair<Value*, std::string>> drops;
  bool* uses_regex = &compiled->uses_regex;
  forEachKeyword(compiled->doc, [&](Value& object, Value::Member& m) {
    std::string_view key = keyOf(m);
    if (key == "multipleOf" && m.value.IsNumber() && !(m.value.GetDouble() > 0)) {
      why = "\"multipleOf\" must be greater than 0";
    } else if (key == "format" && m.value.IsString()) {
      *uses_regex = true;
    } else if (key == "uniqueItems" && m.value.IsTrue()) {
      compiled->uses_unique = true;
    } else if (key == "pattern" && m.value.IsString()) {
      if (source == SchemaSource::kCaller) {
        drops.push_back({&object, std::string(key)});
      } else {
        *uses_regex = true;
        try {
          std::regex check(m.value.GetString());
        } catch (const std::regex_error& e) {
          why = "\"pattern\" " + std::string(m.value.GetString()) + " is not a regular expression: " + e.what();
        }
      }
    } else if (key == "patternProperties" && m.value.IsObject()) {
      if (source == SchemaSource::kCaller) {
        why = "\"patternProperties\" is not accepted in a caller's schema";
      } else {
        *uses_regex = true;
        for (const auto& p : m.value.GetObject()) {
          try {
            std::regex check(p.name.GetString());
          } catch (const std::regex_error& e) {
            why = "\"patternProperties\" " + std::string(p.name.GetString()) + " is not a regular expression: " + e.what();
          }
        }
      }
    }
    return why.empty();
  });
  // Children were found after their parents: removing them first keeps every pointer valid
  // (RemoveMember moves a parent's last member into the freed slot).
  for (auto it = drops.rbegin(); it != drops.rend(); ++it) it->first->RemoveMember(it->second.c_str());
  *dropped = drops.size();
  return why;
}

// The longest string (or member name) and the longest array in `v`.
struct Extent {
  size_t string = 0;
  size_t array = 0;
};

Extent extentOf(const Value& v) {
  Extent e;
  std::vector<const Value*> todo{&v};
  while (!todo.empty()) {
    const Value* at = todo.back();
    todo.pop_back();
    if (at->IsString()) e.string = std::max<size_t>(e.string, at->GetStringLength());
    if (at->IsObject()) {
      for (const auto& m : at->GetObject()) {
        e.string = std::max<size_t>(e.string, m.name.GetStringLength());
        todo.push_back(&m.value);
      }
    } else if (at->IsArray()) {
      e.array = std::max<size_t>(e.array, at->Size());
      for (const auto& item : at->GetArray()) todo.push_back(&item);
    }
  }
  return e;
}

// valijson's context is {"<root>", "[key]", "[0]" ...}; a JSON pointer reads better.
std::string pointerOf(const std::vector<std::string>& context) {
  std::string p;
  for (const std::string& c : context) {
    if (c.size() < 2 || c.front() != '[' || c.back() != ']') continue;
    std::string inner = c.substr(1, c.size() - 2);
    if (inner.size() >= 2 && inner.front() == '"' && inner.back() == '"') inner = inner.substr(1, inner.size() - 2);
    p += "/" + inner;
  }
  return p.empty() ? "/" : p;
}

}  // namespace

CompileResult compileSchema(std::string_view text, SchemaSource source, const SchemaLimits& limits) {
  CompileResult out;
  const bool caller = source == SchemaSource::kCaller;
  if (caller && text.size() > limits.max_bytes) {
    out.error = "schema is " + std::to_string(text.size()) + " bytes, more than " + std::to_string(limits.max_bytes);
    return out;
  }
  auto compiled = std::make_shared<CompiledSchema>();
  json::ParseResult parsed = json::parse<rapidjson::kParseValidateEncodingFlag>(text, &compiled->doc);
  if (!parsed) {
    out.error = "schema is not JSON: " + parsed.reason();
    return out;
  }
  if (!compiled->doc.IsObject() && !compiled->doc.IsBool()) {
    out.error = "schema is not a JSON object";
    return out;
  }
  if (caller && depthOf(compiled->doc) > limits.max_depth) {
    out.error = "schema nests deeper than " + std::to_string(limits.max_depth) + " levels";
    return out;
  }
  if (std::string why = screenKeywords(compiled.get(), source, &out.dropped_patterns); !why.empty()) {
    out.error = "schema refused: " + why;
    return out;
  }
  const std::vector<const Value*> nodes = allNodes(compiled->doc);
  if (std::string why = longRef(nodes); !why.empty()) {
    out.error = "schema refused: " + why;
    return out;
  }
  if (inPlaceFanout(compiled->doc, nodes, limits.max_fanout) > limits.max_fanout) {
    out.error = "schema refused: its $ref/allOf/anyOf/oneOf/not/if/then/else apply more than " +
                std::to_string(limits.max_fanout) + " schemas to one value, or form a cycle";
    return out;
  }
  try {
    valijson::SchemaParser parser;
    valijson::adapters::RapidJsonAdapter adapter(compiled->doc);
    parser.populateSchema(adapter, compiled->schema);
  } catch (const std::exception& e) {
    out.error = std::string("schema is not valid JSON Schema: ") + e.what();
    return out;
  }
  out.schema = std::move(compiled);
  return out;
}

bool validate(const CompiledSchema& schema, const rapidjson::Value& value, size_t max_errors,
              std::vector<std::string>* errors) {
  if (json::hasInvalidUtf8(value)) {
    errors->push_back("/: a string that is not UTF-8 cannot be checked against the schema");
    return false;
  }
  if (schema.uses_regex || schema.uses_unique) {
    const Extent extent = extentOf(value);
    if (schema.uses_regex && extent.string > kMaxRegexInput) {
      errors->push_back("/: a string longer than " + std::to_string(kMaxRegexInput) +
                        " bytes cannot be checked against the schema's pattern or format");
      return false;
    }
    if (schema.uses_unique && extent.array > kMaxUniqueItems) {
      errors->push_back("/: an array of more than " + std::to_string(kMaxUniqueItems) +
                        " items cannot be checked against the schema's uniqueItems");
      return false;
    }
  }
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::RapidJsonAdapter adapter(value);
  bool valid = false;
  try {
    valid = validator.validate(schema.schema, adapter, &results);
  } catch (const std::exception& e) {
    errors->push_back(std::string("/: the schema could not be applied: ") + e.what());
    return false;
  }
  if (valid) return true;
  std::vector<valijson::ValidationResults::Error> all;
  valijson::ValidationResults::Error e;
  while (results.popError(e)) all.push_back(e);
  // The deepest errors are the most specific; valijson also reports each enclosing schema.
  std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.context.size() > b.context.size(); });
  std::unordered_set<std::string> seen;
  for (const auto& err : all) {
    if (errors->size() >= max_errors) break;
    std::string line = pointerOf(err.context) + ": " + err.description;
    if (seen.insert(line).second) errors->push_back(std::move(line));
  }
  if (errors->empty()) errors->push_back("/: does not match the schema");
  return false;
}

CompileResult SchemaCache::get(std::string_view text, SchemaSource source, const SchemaLimits& limits) {
  // A caller's schema over the size bound is refused before it is parsed, so its refusal is
  // not kept: keeping it by its text would hold up to schema_cache such texts of any size.
  if (source == SchemaSource::kCaller && text.size() > limits.max_bytes) return compileSchema(text, source, limits);
  std::string key(1, source == SchemaSource::kCaller ? 'c' : 'o');
  key.append(text);
  if (auto it = index_.find(key); it != index_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->result;
  }
  CompileResult result = compileSchema(text, source, limits);
  if (capacity_ == 0) return result;
  if (index_.size() >= capacity_) {
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
  lru_.push_front({std::move(key), result});
  index_.emplace(lru_.front().key, lru_.begin());
  return result;
}

}  // namespace outrigger::jsonguard
