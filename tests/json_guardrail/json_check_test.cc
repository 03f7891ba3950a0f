// guardrail.json's checks without the daemon: finding the JSON value in an answer, compiling and
// applying schemas (hostile ones from callers included), checking answers and tool calls, the
// repair prompt, and the config table against the schema and the README.
#include <catch2/catch.hpp>

#include <chrono>

#include "answer_check.h"
#include "bounded_json.h"
#include "json_extract.h"
#include "json_settings.h"
#include "schema_check.h"

using namespace outrigger::jsonguard;

namespace {

const char kPersonSchema[] =
    R"({"type":"object","required":["name","age"],"additionalProperties":false,)"
    R"("properties":{"name":{"type":"string","minLength":1},"age":{"type":"integer","minimum":0}}})";

std::shared_ptr<const CompiledSchema> compiled(const std::string& text, SchemaSource source = SchemaSource::kCaller) {
  CompileResult r = compileSchema(text, source, SchemaLimits{});
  INFO(r.error);
  REQUIRE(r.schema);
  return r.schema;
}

std::string refusal(const std::string& text, SchemaSource source = SchemaSource::kCaller, SchemaLimits limits = {}) {
  CompileResult r = compileSchema(text, source, limits);
  return r.schema ? std::string() : r.error;
}

std::vector<std::string> errorsOf(const CompiledSchema& schema, const std::string& value) {
  rapidjson::Document d;
  REQUIRE(outrigger::json::parse(value, &d));
  std::vector<std::string> errors;
  validate(schema, d, 8, &errors);
  return errors;
}

AnswerRules personRules() {
  AnswerRules r;
  r.json_content = true;
  r.content_schema = compiled(kPersonSchema);
  r.schema_name = "person";
  return r;
}

AnswerRules toolRules() {
  AnswerRules r;
  r.check_tools = true;
  r.tools.push_back({"get_weather", compiled(R"({"type":"object","required":["city"],"properties":{"city":{"type":"string"}}})")});
  r.tools.push_back({"get_time", nullptr});
  return r;
}

}  // namespace

TEST_CASE("a whole-text JSON value is taken as it is") {
  Extracted e = extractJson("  {\"a\": [1, 2]}\n", true);
  REQUIRE(e.found);
  CHECK_FALSE(e.surrounded);
  CHECK(e.json == "{\"a\": [1, 2]}");
  CHECK(e.doc["a"].Size() == 2);
}

TEST_CASE("the value inside a code fence or prose is found, and marked as surrounded") {
  Extracted fenced = extractJson("Sure! Here it is:\n```json\n{\"name\": \"Ann\"}\n```\nAnything else?", true);
  REQUIRE(fenced.found);
  CHECK(fenced.surrounded);
  CHECK(fenced.json == "{\"name\": \"Ann\"}");
  Extracted prose = extractJson("The result is {\"ok\": true} as requested; {not this}", true);
  REQUIRE(prose.found);
  CHECK(prose.json == "{\"ok\": true}");
  Extracted skipped = extractJson("Pick {one} of these: [1, 2, 3].", true);
  REQUIRE(skipped.found);
  CHECK(skipped.json == "[1, 2, 3]");
}

TEST_CASE("without strip, only a whole-text value counts, and the error says where parsing stopped") {
  Extracted e = extractJson("```json\n{\"a\": 1}\n```", false);
  CHECK_FALSE(e.found);
  CHECK(e.error.find("at byte 0") != std::string::npos);
  CHECK_FALSE(extractJson("The answer is 42.", true).found);  // a number in prose is not an answer
}

TEST_CASE("an answer that ends inside a value is recognised as incomplete") {
  Extracted cut = extractJson("{\"name\": \"Ann\", \"hobbies\": [\"chess\", \"go", true);
  CHECK_FALSE(cut.found);
  CHECK(cut.incomplete);
  Extracted broken = extractJson("{\"name\" \"Ann\"}", true);
  CHECK_FALSE(broken.found);
  CHECK_FALSE(broken.incomplete);
}

TEST_CASE("a value inside a cut-off or broken one is never taken for the answer") {
  Extracted cut = extractJson("{\"items\":[{\"id\":1},{\"id\":2},{\"id\":3", true);
  CHECK_FALSE(cut.found);
  CHECK(cut.incomplete);
  CHECK_FALSE(extractJson("Result: {\"items\":[{\"id\":1}, oops]}", true).found);
  // A value after a broken one is still found.
  Extracted after = extractJson("Pick {one}: {\"id\": 7}", true);
  REQUIRE(after.found);
  CHECK(after.json == "{\"id\": 7}");
}

TEST_CASE("answers nested past the bound or not UTF-8 are not JSON, without crashing") {
  std::string deep = std::string(100000, '[') + std::string(100000, ']');
  Extracted e = extractJson(deep, true);
  CHECK_FALSE(e.found);
  CHECK(e.error.find("deeper than") != std::string::npos);
  CHECK_FALSE(extractJson("{\"a\": \"\xff\xfe\"}", true).found);
}

TEST_CASE("validation errors name the place in the value and say what is wrong") {
  auto schema = compiled(kPersonSchema);
  CHECK(errorsOf(*schema, R"({"name":"Ann","age":41})").empty());
  std::vector<std::string> errors = errorsOf(*schema, R"({"name":"","age":-1,"extra":1})");
  REQUIRE_FALSE(errors.empty());
  std::string all;
  for (const auto& e : errors) all += e + "\n";
  INFO(all);
  CHECK(all.find("/age") != std::string::npos);
  CHECK(all.find("/name") != std::string::npos);
  CHECK(errors.size() <= 8);
}

TEST_CASE("caller schemas that would hurt the worker are refused with a reason") {
  CHECK(refusal(R"({"$ref": "#"})").find("cycle") != std::string::npos);
  CHECK(refusal(R"({"allOf": [{"$ref": "#"}]})").find("cycle") != std::string::npos);
  CHECK(refusal(R"({"definitions":{"a":{"$ref":"#/definitions/b"},"b":{"$ref":"#/definitions/a"}},"$ref":"#/definitions/a"})") != "");
  CHECK(refusal(R"({"type":"integer","multipleOf":0})").find("multipleOf") != std::string::npos);
  CHECK(refusal(R"({"type":"integer","multipleOf":-1})").find("multipleOf") != std::string::npos);
  CHECK(refusal(R"({"patternProperties":{"^a":{}}})").find("patternProperties") != std::string::npos);
  CHECK(refusal(std::string(40, '[') + std::string(40, ']')).find("not a JSON object") != std::string::npos);
  CHECK(refusal("{\"type\": \"str\xff\"}").find("not JSON") != std::string::npos);
  CHECK(refusal(R"({"type": "strin"})").find("not valid JSON Schema") != std::string::npos);
  CHECK(refusal(R"({"$ref": "http://example.com/remote.json"})") != "");
  std::string big = R"({"description":")" + std::string(70000, 'x') + R"("})";
  CHECK(refusal(big).find("bytes, more than") != std::string::npos);
  CHECK(refusal(big, SchemaSource::kConfig).empty());  // the operator's own schema is not size-bound
}

TEST_CASE("a caller schema nested past max_schema_depth is refused, a shallower one compiles") {
  auto nest = [](int levels) {
    std::string s;
    for (int i = 0; i < levels; ++i) s += R"({"type":"object","properties":{"a":)";
    s += "{}";
    for (int i = 0; i < levels; ++i) s += "}}";
    return s;
  };
  CHECK(refusal(nest(10)).empty());
  CHECK(refusal(nest(20)).find("deeper than 32") != std::string::npos);
}

TEST_CASE("a small schema that fans out exponentially through combinators is refused") {
  // Each level checks the next twice: 2^24 schemas for one value.
  std::string defs;
  for (int i = 0; i < 24; ++i) {
    defs += (i ? "," : "") + std::string("\"d") + std::to_string(i) + "\":{\"anyOf\":[{\"$ref\":\"#/definitions/d" +
            std::to_string(i + 1) + "\"},{\"$ref\":\"#/definitions/d" + std::to_string(i + 1) + "\"}]}";
  }
  defs += ",\"d24\":{\"type\":\"string\"}";
  std::string schema = "{\"definitions\":{" + defs + "},\"$ref\":\"#/definitions/d0\"}";
  CHECK(refusal(schema).find("more than 10000 schemas") != std::string::npos);
}

TEST_CASE("a recursive schema that applies itself more than once a level is refused, a recursive tree is not") {
  // An item gets x, its 20 references and the root they name: 41 schemas; an item of an item
  // 20 x 41, and one three levels down 20^2 x 41 = 16,400. valijson took 3.7 s on an answer six
  // arrays deep before the bound, and would not have finished one ten deep.
  std::string refs;
  for (int i = 0; i < 20; ++i) refs += std::string(i ? "," : "") + R"({"$ref":"#"})";
  const std::string twenty = R"({"items":{"$ref":"#/definitions/x"},"definitions":{"x":{"allOf":[)" + refs + "]}}}";
  CHECK(refusal(twenty).find("more than 10000 schemas to one value nested 3 levels deep") != std::string::npos);
  SchemaLimits roomy;
  roomy.max_fanout = 1000000;
  CHECK(refusal(twenty, SchemaSource::kCaller, roomy).find("nested 5 levels deep") != std::string::npos);
  CHECK(refusal(twenty, SchemaSource::kConfig).find("nested 3 levels deep") != std::string::npos);

  // Twice a level through properties, additionalProperties or contains is refused too.
  CHECK(refusal(R"({"properties":{"a":{"allOf":[{"$ref":"#"},{"$ref":"#"}]}}})").find("levels deep") != std::string::npos);
  CHECK(refusal(R"({"additionalProperties":{"anyOf":[{"$ref":"#"},{"$ref":"#"}]}})").find("levels deep") != std::string::npos);
  CHECK(refusal(R"({"items":{"$ref":"#"},"contains":{"$ref":"#"}})").find("levels deep") != std::string::npos);

  // Once a level is a tree: it checks answers as deep as they parse.
  auto tree = compiled(R"({"type":"object","required":["n"],"properties":{"n":{"type":"integer"},)"
                       R"("children":{"type":"array","items":{"$ref":"#"}}}})");
  std::string deep = R"({"n":0})";
  for (int i = 1; i < 60; ++i) deep = R"({"n":)" + std::to_string(i) + R"(,"children":[)" + deep + "," + deep.substr(0, 0) + R"({"n":1}]})";
  CHECK(errorsOf(*tree, deep).empty());
  CHECK_FALSE(errorsOf(*tree, R"({"n":1,"children":[{"n":"x"}]})").empty());

  // Wide is not deep: a member gets one of its object's properties, so 40 properties on each of
  // four levels apply two schemas (a reference and its target) to each value, not 40^4.
  std::string defs = R"("l0":{"type":"string"})";
  for (int level = 1; level <= 4; ++level) {
    std::string props;
    for (int i = 0; i < 40; ++i) {
      props += std::string(i ? "," : "") + "\"p" + std::to_string(i) + "\":{\"$ref\":\"#/definitions/l" +
               std::to_string(level - 1) + "\"}";
    }
    defs += ",\"l" + std::to_string(level) + R"(":{"type":"object","properties":{)" + props + "}}";
  }
  const std::string wide = R"({"definitions":{)" + defs + R"(},"$ref":"#/definitions/l4"})";
  auto four = compiled(wide);
  CHECK(errorsOf(*four, R"({"p1":{"p2":{"p3":{"p4":"x"}}}})").empty());
  CHECK_FALSE(errorsOf(*four, R"({"p1":{"p2":{"p3":{"p4":7}}}})").empty());
}

TEST_CASE("a schema dependency that leads back to the schema is a cycle, refused instead of crashing") {
  CHECK(refusal(R"({"dependencies":{"a":{"$ref":"#"}}})").find("form a cycle") != std::string::npos);
  CHECK(refusal(R"({"definitions":{"d":{"dependencies":{"b":{"$ref":"#"}}}},"allOf":[{"$ref":"#/definitions/d"}]})")
            .find("form a cycle") != std::string::npos);
  auto fine = compiled(R"({"type":"object","dependencies":{"card":["billing"],"b":{"required":["c"]}}})");
  CHECK(errorsOf(*fine, R"({"card":1,"billing":2})").empty());
  CHECK_FALSE(errorsOf(*fine, R"({"card":1})").empty());
  CHECK_FALSE(errorsOf(*fine, R"({"b":1})").empty());
}

TEST_CASE("a relative id does not make valijson's parser recurse: ids are dropped, references stay in the schema") {
  // valijson resolved "#" against the id and re-read it on each pass: "a", "aa", "aaa", ...
  auto items = compiled(R"({"id":"a","type":"array","items":{"$ref":"#"}})");
  CHECK(errorsOf(*items, "[[[]],[]]").empty());
  CHECK_FALSE(errorsOf(*items, "[[1]]").empty());
  auto numbered = compiled(R"({"id":5,"type":"object","properties":{"id":{"type":"string"},"next":{"$ref":"#"}}})");
  CHECK(errorsOf(*numbered, R"({"id":"x","next":{"id":"y"}})").empty());  // a property named id is kept
  CHECK_FALSE(errorsOf(*numbered, R"({"next":{"id":7}})").empty());
  // A reference must point into the schema: a URN before '#' went through a recursive std::regex.
  CHECK(refusal(R"({"items":{"$ref":"urn:ab:)" + std::string(60000, 'a') + R"("}})").find("longer than 2048") != std::string::npos);
  CHECK(refusal(R"({"items":{"$ref":"urn:ab:)" + std::string(2000, 'a') + R"("}})").find("'#'") != std::string::npos);
  CHECK(refusal(R"({"items":{"$ref":"other.json#/a"}})").find("'#'") != std::string::npos);
  CHECK(refusal(R"({"items":{"$ref":"#/)" + std::string(3000, 'a') + R"("}})").find("longer than 2048") != std::string::npos);
}

TEST_CASE("a $ref valijson would decode otherwise than the guards is refused") {
  // valijson decodes "%zz" as NUL and matched the member "\u0000": a cycle the guards could not see.
  CHECK(refusal(R"({"allOf":[{"$ref":"#/%zz"}],"\u0000":{"allOf":[{"$ref":"#/%zz"}]},"":{"allOf":[{"$ref":"#/%zz"}]}})")
            .find("'%' not followed by two hex digits") != std::string::npos);
  CHECK(refusal(R"({"items":{"$ref":"#/definitions/%+1"}})").find("'%'") != std::string::npos);
  CHECK(refusal(R"({"items":{"$ref":"#/definitions/a%0"}})").find("'%'") != std::string::npos);
  CHECK(refusal(R"({"items":{"$ref":"#/%00"},"\u0000":{}})").find("%00") != std::string::npos);
  CHECK(refusal(R"({"items":{"$ref":"#/a\u0000b"},"a":{}})").find("NUL") != std::string::npos);
  auto escaped = compiled(R"({"definitions":{"a b":{"type":"integer"}},"items":{"$ref":"#/definitions/a%20b"}})");
  CHECK(errorsOf(*escaped, "[1,2]").empty());
  CHECK_FALSE(errorsOf(*escaped, R"(["x"])").empty());
}

TEST_CASE("keywords are screened wherever valijson reads a schema, and only there") {
  // multipleOf as a string: valijson read "0" as the integer 0 and divided by it.
  CHECK(refusal(R"({"type":"object","properties":{"n":{"multipleOf":"0"}}})").find("multipleOf") != std::string::npos);
  CHECK(refusal(R"({"properties":{"n":{"multipleOf":"7"}}})").find("multipleOf") != std::string::npos);
  // A $ref into default (or enum, const, examples) makes it a schema: it is screened as one.
  CHECK(refusal(R"({"properties":{"n":{"$ref":"#/default"}},"default":{"multipleOf":0}})").find("multipleOf") !=
        std::string::npos);
  CHECK(refusal(R"({"properties":{"n":{"$ref":"#/enum/0"}},"enum":[{"patternProperties":{"a":{}}}]})")
            .find("patternProperties") != std::string::npos);
  CompileResult via_default =
      compileSchema(R"({"properties":{"s":{"$ref":"#/default"}},"default":{"pattern":"^(a|b)*$"}})", SchemaSource::kCaller, {});
  REQUIRE(via_default.schema);
  CHECK(via_default.dropped_patterns == 1);
  CHECK(errorsOf(*via_default.schema, R"({"s":")" + std::string(100000, 'c') + R"("})").empty());
  // A property may be named "enum" or "default": its schema is screened like any other.
  CHECK(refusal(R"({"properties":{"enum":{"type":"integer","multipleOf":0}}})").find("multipleOf") != std::string::npos);
  CompileResult named = compileSchema(R"({"properties":{"default":{"type":"string","pattern":"^x$"}}})", SchemaSource::kCaller, {});
  REQUIRE(named.schema);
  CHECK(named.dropped_patterns == 1);
  // Data that no $ref reaches is data: an enum of objects with schema words in them is kept as it is.
  auto data = compiled(R"({"enum":[{"multipleOf":0,"pattern":"(","id":"a"}]})");
  CHECK(errorsOf(*data, R"({"multipleOf":0,"pattern":"(","id":"a"})").empty());
  CHECK_FALSE(errorsOf(*data, R"({"multipleOf":0})").empty());
}

TEST_CASE("an answer whose check would take more than max_answer_checks fails with a reason, unchecked") {
  // 999 schemas for every item (allOf, 499 references and their targets): 2,000 items are about
  // 2 million applications, 900 items about 900,000.
  std::string refs;
  for (int i = 0; i < 499; ++i) refs += std::string(i ? "," : "") + R"({"$ref":"#/definitions/n"})";
  const std::string schema =
      R"({"type":"array","items":{"allOf":[)" + refs + R"(]},"definitions":{"n":{"type":"integer"}}})";
  auto costly = compiled(schema);
  auto items = [](int n) {
    std::string a = "[0";
    for (int i = 1; i < n; ++i) a += ",1";
    return a + "]";
  };
  CHECK(errorsOf(*costly, items(900)).empty());
  std::vector<std::string> errors = errorsOf(*costly, items(2000));
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].find("more than max_answer_checks (1000000)") != std::string::npos);
  SchemaLimits more;
  more.max_answer_checks = 4000000;
  CompileResult roomy = compileSchema(schema, SchemaSource::kCaller, more);
  REQUIRE(roomy.schema);
  CHECK(errorsOf(*roomy.schema, items(2000)).empty());
}

TEST_CASE("an enum counts its entries toward max_answer_checks: each is compared with each value") {
  std::string entries;
  for (int i = 0; i < 10000; ++i) entries += (i ? "," : "") + std::to_string(i);
  auto schema = compiled(R"({"type":"array","items":{"enum":[)" + entries + "]}}");
  auto items = [](int n) {
    std::string a = "[9999";
    for (int i = 1; i < n; ++i) a += ",9999";
    return a + "]";
  };
  CHECK(errorsOf(*schema, items(50)).empty());  // 50 x 10,001
  std::vector<std::string> errors = errorsOf(*schema, items(200));  // 200 x 10,001
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].find("2000201 schema applications, more than max_answer_checks") != std::string::npos);
}

TEST_CASE("multipleOf with a number past 64-bit integers fails with a reason instead of an undefined conversion") {
  auto schema = compiled(R"({"type":"object","properties":{"n":{"type":"integer","multipleOf":2}}})");
  CHECK(errorsOf(*schema, R"({"n":4})").empty());
  std::vector<std::string> errors = errorsOf(*schema, R"({"n":9444444444444444444444444444444444444444})");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].find("beyond 64-bit integers") != std::string::npos);
  CHECK_FALSE(errorsOf(*schema, R"({"n":"1e300"})").empty());
}

TEST_CASE("uniqueItems over large nested items fails with a reason instead of comparing every pair") {
  auto schema = compiled(R"({"type":"array","uniqueItems":true})");
  // 1,000 items of 100 numbers each: 100,000 values compared pair by pair.
  std::string item = "[0";
  for (int i = 1; i < 100; ++i) item += ",0";
  item += "]";
  std::string big = "[" + item;
  for (int i = 1; i < 1000; ++i) big += "," + item;
  big += "]";
  std::vector<std::string> errors = errorsOf(*schema, big);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].find("uniqueItems") != std::string::npos);
  CHECK(errorsOf(*schema, "[[1,2],[2,1],[1,[2]]]").empty());
}

TEST_CASE("a caller's pattern keywords are dropped and counted, the config's are enforced") {
  const char* schema = R"({"type":"object","properties":{"code":{"type":"string","pattern":"^[A-Z]{3}$"},)"
                       R"("pattern":{"type":"string"}},"enum":[{"pattern":"kept"}]})";
  CompileResult caller = compileSchema(schema, SchemaSource::kCaller, {});
  REQUIRE(caller.schema);
  CHECK(caller.dropped_patterns == 1);
  CHECK(errorsOf(*caller.schema, R"({"code":"lower","pattern":"x"})").size() > 0);  // the enum still applies
  auto trusted = compiled(R"({"type":"object","properties":{"code":{"type":"string","pattern":"^[A-Z]{3}$"}}})",
                          SchemaSource::kConfig);
  CHECK(errorsOf(*trusted, R"({"code":"ABC"})").empty());
  CHECK_FALSE(errorsOf(*trusted, R"({"code":"abc"})").empty());
  // A long string is not handed to std::regex: it fails with a reason instead.
  std::vector<std::string> long_one = errorsOf(*trusted, R"({"code":")" + std::string(5000, 'A') + R"("})");
  REQUIRE(long_one.size() == 1);
  CHECK(long_one[0].find("longer than 4096") != std::string::npos);
  CHECK(refusal(R"({"pattern":"(unclosed"})", SchemaSource::kConfig).find("(unclosed") != std::string::npos);
}

TEST_CASE("uniqueItems is checked on arrays up to the bound and refused with a reason past it") {
  auto schema = compiled(R"({"type":"array","uniqueItems":true})");
  CHECK(errorsOf(*schema, "[1, 2, 3]").empty());
  CHECK_FALSE(errorsOf(*schema, "[1, 2, 1]").empty());
  std::string big = "[0";
  for (size_t i = 1; i <= kMaxUniqueItems; ++i) big += "," + std::to_string(i);
  std::vector<std::string> errors = errorsOf(*schema, big + "]");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].find("more than 2048 items") != std::string::npos);
}

TEST_CASE("a long chain of references within the size bound compiles and validates without exhausting the stack") {
  // About 64 KiB of schema: each definition refers to the next.
  std::string defs;
  int n = 0;
  while (defs.size() < 60000) {
    defs += "\"a" + std::to_string(n) + "\":{\"$ref\":\"#/definitions/a" + std::to_string(n + 1) + "\"},";
    ++n;
  }
  defs += "\"a" + std::to_string(n) + "\":{\"type\":\"string\"}";
  auto schema = compiled("{\"definitions\":{" + defs + "},\"$ref\":\"#/definitions/a0\"}");
  CHECK(errorsOf(*schema, "\"text\"").empty());
  CHECK_FALSE(errorsOf(*schema, "7").empty());
}

TEST_CASE("a schema cache returns the same compiled schema and keeps to its capacity") {
  SchemaCache cache(2);
  CompileResult a = cache.get(R"({"type":"string"})", SchemaSource::kCaller, {});
  CompileResult again = cache.get(R"({"type":"string"})", SchemaSource::kCaller, {});
  CHECK(a.schema.get() == again.schema.get());
  cache.get(R"({"type":"number"})", SchemaSource::kCaller, {});
  cache.get(R"({"type":"boolean"})", SchemaSource::kCaller, {});
  CHECK(cache.size() == 2);
  CHECK(cache.get(R"({"$ref":"#"})", SchemaSource::kCaller, {}).error.find("cycle") != std::string::npos);
}

TEST_CASE("a schema cache does not keep a caller's schema refused for its size") {
  SchemaCache cache(4);
  SchemaLimits limits;
  limits.max_bytes = 1024;
  std::string big = R"({"description":")" + std::string(4096, 'x') + R"("})";
  CHECK(cache.get(big, SchemaSource::kCaller, limits).error.find("more than 1024") != std::string::npos);
  CHECK(cache.size() == 0);
  CHECK(cache.get(R"({"type":"string"})", SchemaSource::kCaller, limits).schema);
  CHECK(cache.size() == 1);
}

TEST_CASE("an answer matching the schema passes, and a fenced one passes with the bare value to send") {
  CheckSettings s;
  CHECK(checkAnswer(personRules(), R"({"name":"Ann","age":41})", {}, s).ok);
  Finding f = checkAnswer(personRules(), "```json\n{\"name\":\"Ann\",\"age\":41}\n```", {}, s);
  CHECK(f.ok);
  CHECK(f.stripped);
  CHECK(f.json == R"({"name":"Ann","age":41})");
  s.strip = false;
  CHECK_FALSE(checkAnswer(personRules(), "```json\n{\"name\":\"Ann\",\"age\":41}\n```", {}, s).ok);
}

TEST_CASE("an answer that is not JSON, or breaks the schema, fails with the errors") {
  Finding prose = checkAnswer(personRules(), "Ann is 41 years old.", {}, {});
  CHECK_FALSE(prose.ok);
  REQUIRE(prose.errors.size() == 1);
  CHECK(prose.errors[0].find("not JSON") != std::string::npos);
  Finding wrong = checkAnswer(personRules(), R"({"name":"Ann","age":"forty-one"})", {}, {});
  CHECK_FALSE(wrong.ok);
  CHECK(joinErrors(wrong.errors).find("/age") != std::string::npos);
  CHECK_FALSE(wrong.tool_problem);
}

TEST_CASE("json_object asks for an object, any object") {
  AnswerRules r;
  r.json_content = r.object_content = true;
  CHECK(checkAnswer(r, R"({"anything": [1]})", {}, {}).ok);
  Finding f = checkAnswer(r, "[1, 2]", {}, {});
  CHECK_FALSE(f.ok);
  CHECK(f.errors[0].find("must be a JSON object") != std::string::npos);
}

TEST_CASE("a tool call must name a declared tool: a hallucinated one fails naming the declared ones") {
  Finding f = checkAnswer(toolRules(), "", {{"delete_everything", "{}"}}, {});
  CHECK_FALSE(f.ok);
  CHECK(f.tool_problem);
  REQUIRE(f.errors.size() == 1);
  CHECK(f.errors[0].find("no function named \"delete_everything\"") != std::string::npos);
  CHECK(f.errors[0].find("get_weather, get_time") != std::string::npos);
  AnswerRules none;
  none.check_tools = true;
  CHECK(checkAnswer(none, "", {{"anything", "{}"}}, {}).errors[0].find("none were declared") != std::string::npos);
}

TEST_CASE("tool arguments must parse as an object and match the tool's parameters") {
  CHECK(checkAnswer(toolRules(), "", {{"get_weather", R"({"city":"Oslo"})"}, {"get_time", "{}"}}, {}).ok);
  Finding bad_json = checkAnswer(toolRules(), "", {{"get_weather", R"({"city":"Os)"}}, {});
  CHECK_FALSE(bad_json.ok);
  CHECK(bad_json.errors[0].find("not JSON") != std::string::npos);
  CHECK_FALSE(checkAnswer(toolRules(), "", {{"get_time", "[1]"}}, {}).ok);
  Finding missing = checkAnswer(toolRules(), "", {{"get_weather", R"({"town":"Oslo"})"}}, {});
  CHECK_FALSE(missing.ok);
  CHECK(missing.errors[0].find("tool call 0 (get_weather) arguments") != std::string::npos);
}

TEST_CASE("tool_choice is kept: none, required and a named tool") {
  AnswerRules r = toolRules();
  r.tool_choice = "none";
  CHECK_FALSE(checkAnswer(r, "", {{"get_time", "{}"}}, {}).ok);
  r.tool_choice = "required";
  CHECK_FALSE(checkAnswer(r, "plain text", {}, {}).ok);
  CHECK(checkAnswer(r, "", {{"get_time", "{}"}}, {}).ok);
  r.tool_choice = "get_weather";
  CHECK_FALSE(checkAnswer(r, "", {{"get_time", "{}"}}, {}).ok);
  Finding text_only = checkAnswer(r, "Sunny", {}, {});  // a named tool forces a call, as "required" does
  CHECK_FALSE(text_only.ok);
  REQUIRE_FALSE(text_only.errors.empty());
  CHECK(text_only.errors[0].find("tool_choice was \"get_weather\", yet the answer calls no function") != std::string::npos);
  CHECK(checkAnswer(r, "", {{"get_weather", R"({"city":"Oslo"})"}}, {}).ok);
}

// A tool named like a mode reaches the guardrail in OpenAI's object form: it is that tool, forced,
// not the mode of that name.
TEST_CASE("tool_choice in its object form forces the tool it names, even one named none") {
  AnswerRules r = toolRules();
  r.tools.push_back({"none", nullptr});
  r.setToolChoice(R"({"type":"function","function":{"name":"none"}})");
  CHECK(r.forcedTool() == "none");
  CHECK_FALSE(r.toolChoiceIsMode("none"));
  CHECK(checkAnswer(r, "", {{"none", "{}"}}, {}).ok);
  Finding other = checkAnswer(r, "", {{"get_time", "{}"}}, {});
  CHECK_FALSE(other.ok);
  REQUIRE_FALSE(other.errors.empty());
  CHECK(other.errors[0].find("tool_choice asked for \"none\"") != std::string::npos);
  Finding text_only = checkAnswer(r, "Sunny", {}, {});
  CHECK_FALSE(text_only.ok);
  // Anthropic's shape names the tool at the top; a bare mode stays a mode.
  r.setToolChoice(R"({"type":"tool","name":"get_time"})");
  CHECK(r.forcedTool() == "get_time");
  r.setToolChoice("none");
  CHECK(r.toolChoiceIsMode("none"));
  CHECK(r.forcedTool().empty());
  CHECK_FALSE(checkAnswer(r, "", {{"none", "{}"}}, {}).ok);
  r.setToolChoice("{not json");
  CHECK(r.forcedTool().empty());
  CHECK(checkAnswer(r, "", {{"get_time", "{}"}}, {}).ok);
}

TEST_CASE("the repair prompt lists the errors, names the schema, and quotes a withheld answer cut to size") {
  Finding f = checkAnswer(personRules(), R"({"name":"Ann"})", {}, {});
  REQUIRE_FALSE(f.ok);
  std::string p = repairPrompt(kDefaultRepairPrompt, personRules(), f, "", 4096);
  CHECK(p.find("- /: Missing required property 'age'.") != std::string::npos);
  CHECK(p.find("matching the schema \"person\"") != std::string::npos);
  CHECK(p.find("previous answer was:") == std::string::npos);
  std::string quoted = repairPrompt("Fix: {errors}", personRules(), f, std::string(100, 'x') + "\xc3\xa9", 101);
  CHECK(quoted.rfind("Fix: - /", 0) == 0);
  CHECK(quoted.find(std::string(100, 'x') + "\n[...]") != std::string::npos);  // never half a code point
}

TEST_CASE("settings parse with their defaults, and a configured schema valijson refuses names the key") {
  JsonSettings s = parseJsonSettings("{}");
  CHECK(s.max_reasks == 1);
  CHECK(s.deny_code == 9);
  CHECK(s.streaming == StreamMode::kHold);
  CHECK_FALSE(s.schema);
  JsonSettings t = parseJsonSettings(R"({"schema":{"type":"object"},"max_reasks":3,"deny_code":"invalid_argument",)"
                                     R"("on_truncated":"continue","streaming":"check_at_end","strip":false})");
  CHECK(t.schema);
  CHECK(t.max_reasks == 3);
  CHECK(t.deny_code == 3);
  CHECK(t.on_truncated == OnTruncated::kContinue);
  CHECK(t.streaming == StreamMode::kCheckAtEnd);
  CHECK_FALSE(t.check.strip);
  CHECK_THROWS_WITH(parseJsonSettings(R"({"schema":{"type":"nonsense"}})"), Catch::Contains("schema:"));
}


// Compile cost of a caller schema (hidden; release build: json_guardrail_tests "[bench]").
TEST_CASE("bench: compiling a caller's schema", "[.][bench]") {
  const std::string order =
      R"({"type":"object","additionalProperties":false,"required":["id","customer","items","total","status"],"properties":{)"
      R"("id":{"type":"string"},"customer":{"type":"object","required":["name","email"],"properties":{"name":{"type":"string"},)"
      R"("email":{"type":"string"},"address":{"type":"object","properties":{"street":{"type":"string"},"city":{"type":"string"},)"
      R"("zip":{"type":"string"},"country":{"type":"string","enum":["US","GB","DE","FR"]}}}}},"items":{"type":"array","items":)"
      R"({"type":"object","required":["sku","qty","price"],"properties":{"sku":{"type":"string"},"qty":{"type":"integer","minimum":1},)"
      R"("price":{"type":"number","minimum":0}}}},"total":{"type":"number"},"status":{"type":"string","enum":["new","paid","shipped",)"
      R"("cancelled"]},"notes":{"anyOf":[{"type":"string"},{"type":"null"}]}}})";
  const std::string tree = R"({"definitions":{"node":{"type":"object","properties":{"name":{"type":"string"},)"
                           R"("children":{"type":"array","items":{"$ref":"#/definitions/node"}}}}},"$ref":"#/definitions/node"})";
  for (const std::string* schema : {&order, &tree}) {
    const int n = 5000;
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) REQUIRE(compileSchema(*schema, SchemaSource::kCaller, {}).schema);
    double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() / n;
    WARN(schema->size() << "-byte schema: " << us << " us a compile");
  }
}
