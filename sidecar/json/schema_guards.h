// What valijson must not be given, and how it reads a JSON Schema's references: a schema it
// would follow without end (or through thousands of recursive pointer steps) is refused before
// valijson sees it, and so is text that is not UTF-8. Shared by the plugin-config schemas
// (plugin/schema.cc) and guardrail.json, which compiles callers' schemas and checks answers.
#pragma once

#include <rapidjson/document.h>

#include <cstddef>
#include <string_view>
#include <vector>

#include "bounded_json.h"

namespace outrigger::json {

// valijson resolves a JSON pointer with one recursive call per '/'; real references have a few.
inline constexpr size_t kMaxRefSlashes = 2 * kMaxDepth;

// The longest $ref a schema may have: far more than a real one needs.
inline constexpr size_t kMaxRefBytes = 2048;

// Why valijson must not be given the reference `ref`, or empty. A reference must point into the
// schema itself: "#" and a JSON pointer, at most kMaxRefBytes long with at most kMaxRefSlashes
// '/'. A document URI before the '#' is refused: valijson has no way to fetch one, and reads it
// with a std::regex that recurses once per character. So is a '%' not followed by two hex
// digits, or one that decodes to NUL: valijson decodes "%zz" as NUL and then matches member
// names only up to a NUL, so it would reach a node resolveRef does not (and a cycle resolveRef
// cannot see).
std::string refProblem(std::string_view ref);

// The string of a "$ref" member of `v`, or nullptr.
const rapidjson::Value* refOf(const rapidjson::Value& v);

// The node `ref` points at within `doc`, resolved as valijson resolves it: the part after '#',
// empty tokens skipped, ~1 ~0 and %XX unescaped, array indices read with std::stoul (so "1x" is
// 1). nullptr when it points nowhere, which valijson refuses by itself.
const rapidjson::Value* resolveRef(const rapidjson::Value& doc, std::string_view ref);

// The schemas applied to the same value as `v`: its $ref's target, the subschemas of allOf,
// anyOf, oneOf, not, if, then and else, and the schemas of "dependencies" (applied to the object
// itself when it has the named member). A cycle through these never reaches a smaller part of
// the value, so valijson would recurse until the stack overflowed (e.g. {"allOf": [{"$ref":
// "#"}]}); a cycle through properties or items is a recursive schema, and fine.
std::vector<const rapidjson::Value*> inPlaceSubschemas(const rapidjson::Value& doc, const rapidjson::Value& v);

// The schemas `v` applies one level inside the value it checks, by how they combine there: a
// member of an object is checked against one of `member_one_of` (its properties entry, else
// additionalProperties) and every one of `member_all` (the patternProperties, and propertyNames
// on its name); an item of an array against one of `item_one_of` (items, or its tuple entry,
// else additionalItems) and every one of `item_all` (contains).
struct NestedSubschemas {
  std::vector<const rapidjson::Value*> member_one_of;
  std::vector<const rapidjson::Value*> member_all;
  std::vector<const rapidjson::Value*> item_one_of;
  std::vector<const rapidjson::Value*> item_all;
};
NestedSubschemas nestedSubschemas(const rapidjson::Value& v);

// True when a string or a member name in `v` is not UTF-8 (RapidJSON's validator). valijson
// counts a string's characters for minLength/maxLength by reading continuation bytes into a
// six-entry table, out of bounds on malformed input.
bool hasInvalidUtf8(const rapidjson::Value& v);

}  // namespace outrigger::json
