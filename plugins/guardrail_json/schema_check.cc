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
#include <cstdlib>
#include <optional>
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
  bool uses_multiple_of = false;  // "multipleOf": valijson converts the value to a 64-bit integer
  // At most how much checking one value nested d levels in an answer costs, for d below
  // json::kMaxDepth (the deepest an answer parses): the schemas that may apply to it, each
  // weighed by the lists it compares the value with (schemaWeight).
  std::vector<size_t> cost_by_depth;
  size_t max_answer_checks = 0;
};

namespace {

using Value = rapidjson::Value;

std::string_view keyOf(const Value::Member& m) { return {m.name.GetString(), m.name.GetStringLength()}; }

// ---- $ref handling, as valijson reads references (json/schema_guards.h)

using json::inPlaceSubschemas;
using json::nestedSubschemas;
using json::refOf;

// The nodes valijson parses as schemas: the root (nodes[0]) and what its keywords and references
// lead to (schema_guards.h), each once, numbered in the order found, with their edges. Not the
// members of enum, const, default or examples, nor unused definitions, unless a $ref leads there
// (valijson then reads them as schemas too); a property may be named "enum".
struct SchemaGraph {
  struct Edges {
    std::vector<uint32_t> in_place, member_one_of, member_all, item_one_of, item_all;
  };
  std::vector<Value*> nodes;  // of the document, which is mutable: screening renames members
  std::vector<Edges> edges;
};

// Empty, with `why` set, when a $ref on the way is one valijson would not read as
// json::resolveRef does (json::refProblem).
SchemaGraph schemaGraph(Value& doc, std::string* why) {
  SchemaGraph g;
  std::unordered_map<const Value*, uint32_t> number;
  auto numbersOf = [&](const std::vector<const Value*>& values) {
    std::vector<uint32_t> out;
    for (const Value* v : values) {
      auto [it, fresh] = number.try_emplace(v, static_cast<uint32_t>(g.nodes.size()));
      if (fresh) g.nodes.push_back(const_cast<Value*>(v));
      out.push_back(it->second);
    }
    return out;
  };
  numbersOf({&doc});
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Value& at = *g.nodes[i];
    if (const Value* ref = refOf(at)) {
      *why = json::refProblem({ref->GetString(), ref->GetStringLength()});
      if (!why->empty()) return {};
    }
    json::NestedSubschemas nested = nestedSubschemas(at);
    SchemaGraph::Edges e;
    e.in_place = numbersOf(inPlaceSubschemas(doc, at));
    e.member_one_of = numbersOf(nested.member_one_of);
    e.member_all = numbersOf(nested.member_all);
    e.item_one_of = numbersOf(nested.item_one_of);
    e.item_all = numbersOf(nested.item_all);
    g.edges.push_back(std::move(e));
  }
  return g;
}

// The schemas in post-order of the in-place edges (a schema's in-place subschemas before it), or
// nothing when those edges form a cycle: a schema applied to the same value without end, where
// valijson would recurse until the stack overflowed.
std::optional<std::vector<uint32_t>> inPlaceOrder(const SchemaGraph& g) {
  enum : uint8_t { kUnseen, kOnPath, kDone };
  std::vector<uint8_t> mark(g.nodes.size(), kUnseen);
  std::vector<uint32_t> order;
  for (uint32_t start = 0; start < g.nodes.size(); ++start) {
    if (mark[start] != kUnseen) continue;
    mark[start] = kOnPath;
    std::vector<std::pair<uint32_t, size_t>> path{{start, 0}};
    while (!path.empty()) {
      const uint32_t node = path.back().first;
      const size_t next = path.back().second++;
      if (next == g.edges[node].in_place.size()) {
        mark[node] = kDone;
        order.push_back(node);
        path.pop_back();
        continue;
      }
      const uint32_t child = g.edges[node].in_place[next];
      if (mark[child] == kOnPath) return std::nullopt;
      if (mark[child] == kUnseen) {
        mark[child] = kOnPath;
        path.push_back({child, 0});
      }
    }
  }
  return order;
}

// What applying schema `v` to one value costs, in schema applications: 1, and 1 for each entry of
// the lists valijson goes through for it (enum compares the value with every entry: a caller's
// 10,000-entry enum on the items of a 100,000-item answer is 10^9 comparisons).
size_t schemaWeight(const Value& v) {
  size_t weight = 1;
  if (!v.IsObject()) return weight;
  for (const char* list : {"enum", "required"}) {
    auto it = v.FindMember(list);
    if (it != v.MemberEnd() && it->value.IsArray()) weight += it->value.Size();
  }
  return weight;
}

// At most how many schemas valijson applies to one value nested d levels inside the answer, for
// each d below json::kMaxDepth, capped at `cap` + 1 (d = 0 is the answer itself: what the root
// applies in place). A recursive schema that applies itself twice a level ({"items": {"allOf": [{"$ref":
// "#"}, {"$ref": "#"}]}}) applies 2 schemas to a value in place but 2^20 to one 20 levels deep.
// An upper bound: each schema applied to a value is charged its costliest way one level down
// (nestedSubschemas). With `weigh`, a schema counts schemaWeight instead of 1. `order` is
// inPlaceOrder's.
std::vector<size_t> fanoutByDepth(const SchemaGraph& g, const std::vector<uint32_t>& order, size_t cap, bool weigh) {
  const auto& edges = g.edges;
  const size_t n = g.nodes.size();
  auto plus = [cap](size_t a, size_t b) { return std::min(cap + 1, a + b); };
  std::vector<size_t> above(n), here(n), out;
  for (unsigned depth = 0; depth < json::kMaxDepth; ++depth) {
    for (uint32_t s : order) {
      const SchemaGraph::Edges& e = edges[s];
      size_t total = depth == 0 ? (weigh ? schemaWeight(*g.nodes[s]) : 1) : 0;  // itself, or what it applies a level down
      if (depth > 0) {
        auto oneOf = [&](const std::vector<uint32_t>& list) {
          size_t worst = 0;
          for (uint32_t c : list) worst = std::max(worst, above[c]);
          return worst;
        };
        auto all = [&](const std::vector<uint32_t>& list) {
          size_t sum = 0;
          for (uint32_t c : list) sum = plus(sum, above[c]);
          return sum;
        };
        total = std::max(plus(oneOf(e.member_one_of), all(e.member_all)), plus(oneOf(e.item_one_of), all(e.item_all)));
      }
      for (uint32_t c : e.in_place) total = plus(total, here[c]);
      here[s] = total;
    }
    out.push_back(here[0]);
    if (here[0] > cap) break;
    if (depth > 0 && here == above) break;  // every deeper level is the same
    std::swap(above, here);
  }
  out.resize(json::kMaxDepth, out.back());
  return out;
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

// A member renamed so that valijson passes over it: renaming moves nothing, so pointers to the
// schema's nodes stay valid.
constexpr char kDropped[] = "x-outrigger-dropped";

// Keywords in the schema's nodes (schemaGraph). Caller schemas: "pattern" dropped (counted),
// "patternProperties" refused. Any schema: "id" dropped (valijson takes it as the base its $refs
// resolve against, and a relative one grows at each pass through a recursive $ref: "a", "aa",
// ... without end), a "multipleOf" that is not a number above 0 refused (valijson divides by it
// as an integer, and reads "0" in a string as 0), and the config's regular expressions compiled
// once now, so a bad one fails at startup.
std::string screenKeywords(CompiledSchema* compiled, const std::vector<Value*>& nodes, SchemaSource source, size_t* dropped) {
  for (Value* node : nodes) {
    if (!node->IsObject()) continue;
    for (auto& m : node->GetObject()) {
      const std::string_view key = keyOf(m);
      if (key == "id") {
        m.name.SetString(rapidjson::StringRef(kDropped));
      } else if (key == "multipleOf") {
        if (!(m.value.IsNumber() && m.value.GetDouble() > 0)) return "\"multipleOf\" must be a number greater than 0";
        compiled->uses_multiple_of = true;
      } else if (key == "format" && m.value.IsString()) {
        compiled->uses_regex = true;
      } else if (key == "uniqueItems" && m.value.IsTrue()) {
        compiled->uses_unique = true;
      } else if (key == "pattern" && m.value.IsString()) {
        if (source == SchemaSource::kCaller) {
          m.name.SetString(rapidjson::StringRef(kDropped));
          ++*dropped;
          continue;
        }
        compiled->uses_regex = true;
        try {
          std::regex check(m.value.GetString());
        } catch (const std::regex_error& e) {
          return "\"pattern\" " + std::string(m.value.GetString()) + " is not a regular expression: " + e.what();
        }
      } else if (key == "patternProperties" && m.value.IsObject()) {
        if (source == SchemaSource::kCaller) return "\"patternProperties\" is not accepted in a caller's schema";
        compiled->uses_regex = true;
        for (const auto& p : m.value.GetObject()) {
          try {
            std::regex check(p.name.GetString());
          } catch (const std::regex_error& e) {
            return "\"patternProperties\" " + std::string(p.name.GetString()) + " is not a regular expression: " + e.what();
          }
        }
      }
    }
  }
  return {};
}

// What valijson would do with an answer, counted before it runs.
struct AnswerCost {
  size_t longest_string = 0;  // or member name
  size_t longest_array = 0;
  size_t schema_checks = 0;  // each value times what the schemas that may apply at its depth cost
  size_t unique_visits = 0;  // for uniqueItems: each array's items times the values inside them
  bool beyond_int64 = false;  // a number (or numeric string) no 64-bit integer holds
};

// True when valijson's multipleOf would convert `v` to int64 out of range (undefined behaviour):
// a number past +-2^63, or a string that reads as one (valijson reads numeric strings as numbers).
bool beyondInt64(const Value& v) {
  double d = 0;
  if (v.IsNumber()) {
    if (v.IsInt64()) return false;
    d = v.GetDouble();
  } else if (v.IsString()) {
    const std::string text(v.GetString(), v.GetStringLength());
    char* end = nullptr;
    d = std::strtod(text.c_str(), &end);
    if (end == text.c_str() || *end != '\0') return false;
  } else {
    return false;
  }
  return !(d > -9.2e18 && d < 9.2e18);
}

// Adds `v`, nested `depth` levels in the answer, to `cost`; returns how many values `v` holds,
// itself included. Recursive: answers parse at most json::kMaxDepth deep.
size_t addCost(const CompiledSchema& schema, const Value& v, unsigned depth, AnswerCost* cost) {
  const std::vector<size_t>& by_depth = schema.cost_by_depth;
  const size_t here = by_depth[std::min<size_t>(depth, by_depth.size() - 1)];
  cost->schema_checks = std::min(SIZE_MAX / 2, cost->schema_checks + here);
  if (schema.uses_multiple_of && beyondInt64(v)) cost->beyond_int64 = true;
  size_t values = 1;
  if (v.IsString()) {
    cost->longest_string = std::max<size_t>(cost->longest_string, v.GetStringLength());
  } else if (v.IsObject()) {
    for (const auto& m : v.GetObject()) {
      cost->longest_string = std::max<size_t>(cost->longest_string, m.name.GetStringLength());
      values += addCost(schema, m.value, depth + 1, cost);
    }
  } else if (v.IsArray()) {
    cost->longest_array = std::max<size_t>(cost->longest_array, v.Size());
    for (const auto& item : v.GetArray()) values += addCost(schema, item, depth + 1, cost);
    if (schema.uses_unique) cost->unique_visits = std::min(SIZE_MAX / 2, cost->unique_visits + v.Size() * (values - 1));
  }
  return values;
}

// The most item-and-value visits uniqueItems may take over one answer: every pair of 2048 numbers.
constexpr size_t kMaxUniqueVisits = kMaxUniqueItems * kMaxUniqueItems;

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
  std::string why;
  const SchemaGraph graph = schemaGraph(compiled->doc, &why);
  if (why.empty()) why = screenKeywords(compiled.get(), graph.nodes, source, &out.dropped_patterns);
  if (!why.empty()) {
    out.error = "schema refused: " + why;
    return out;
  }
  const std::optional<std::vector<uint32_t>> order = inPlaceOrder(graph);
  const std::vector<size_t> fanout = order ? fanoutByDepth(graph, *order, limits.max_fanout, /*weigh=*/false) : std::vector<size_t>();
  if (!order || fanout[0] > limits.max_fanout) {
    out.error = "schema refused: its $ref/allOf/anyOf/oneOf/not/if/then/else/dependencies apply more than " +
                std::to_string(limits.max_fanout) + " schemas to one value, or form a cycle";
    return out;
  }
  for (size_t depth = 1; depth < fanout.size(); ++depth) {
    if (fanout[depth] <= limits.max_fanout) continue;
    out.error = "schema refused: it may apply more than " + std::to_string(limits.max_fanout) +
                " schemas to one value nested " + std::to_string(depth) +
                " levels deep in an answer (a recursive schema that applies itself more than once a level)";
    return out;
  }
  compiled->cost_by_depth = fanoutByDepth(graph, *order, limits.max_answer_checks, /*weigh=*/true);
  compiled->max_answer_checks = limits.max_answer_checks;
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
  AnswerCost cost;
  addCost(schema, value, 0, &cost);
  if (schema.uses_regex && cost.longest_string > kMaxRegexInput) {
    errors->push_back("/: a string longer than " + std::to_string(kMaxRegexInput) +
                      " bytes cannot be checked against the schema's pattern or format");
    return false;
  }
  if (cost.beyond_int64) {
    errors->push_back("/: a number beyond 64-bit integers cannot be checked against the schema's multipleOf");
    return false;
  }
  if (schema.uses_unique && cost.longest_array > kMaxUniqueItems) {
    errors->push_back("/: an array of more than " + std::to_string(kMaxUniqueItems) +
                      " items cannot be checked against the schema's uniqueItems");
    return false;
  }
  if (cost.unique_visits > kMaxUniqueVisits) {
    errors->push_back("/: arrays this large and nested cannot be checked against the schema's uniqueItems (" +
                      std::to_string(cost.unique_visits) + " comparisons, more than " +
                      std::to_string(kMaxUniqueVisits) + ")");
    return false;
  }
  if (cost.schema_checks > schema.max_answer_checks) {
    errors->push_back("/: the answer is too large to check against this schema: it would take " +
                      std::to_string(cost.schema_checks) + " schema applications, more than max_answer_checks (" +
                      std::to_string(schema.max_answer_checks) + ")");
    return false;
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
