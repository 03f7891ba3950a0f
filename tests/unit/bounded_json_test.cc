// json::parse and json::nestsTooDeep (sidecar/json/bounded_json.h): the depth bound every JSON
// text the daemon and its plugins read goes through.
#include <catch2/catch.hpp>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>

#include "bounded_json.h"

using outrigger::json::kMaxDepth;
using outrigger::json::nestsTooDeep;
using outrigger::json::parse;
using outrigger::json::ParseResult;

namespace {

std::string arrays(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// {"a":{"a":...{"a":1}...}}: `depth` objects.
std::string objects(size_t depth) {
  std::string out;
  for (size_t i = 0; i < depth; ++i) out += "{\"a\":";
  out += "1";
  return out + std::string(depth, '}');
}

// How deep a parsed value nests, walked without recursion.
size_t depthOf(const rapidjson::Value& root) {
  size_t depth = 0;
  const rapidjson::Value* v = &root;
  while (v->IsArray() || v->IsObject()) {
    ++depth;
    if (v->IsArray() && !v->Empty()) v = &(*v)[0];
    else if (v->IsObject() && v->MemberCount()) v = &v->MemberBegin()->value;
    else break;
  }
  return depth;
}

}  // namespace

TEST_CASE("bounded json: arrays up to the limit parse, one level more is refused with the limit named") {
  for (size_t depth : {size_t{1}, size_t{127}, size_t{128}}) {
    INFO(depth);
    rapidjson::Document d;
    ParseResult r = parse(arrays(depth), &d);
    REQUIRE(r.ok());
    CHECK(depthOf(d) == depth);
  }
  rapidjson::Document d;
  ParseResult r = parse(arrays(kMaxDepth + 1), &d);
  CHECK_FALSE(r.ok());
  CHECK(r.tooDeep());
  CHECK(r.offset() == kMaxDepth);  // the bracket that opens level 129
  CHECK(r.reason() == "JSON nested deeper than 128 levels");
  CHECK(d.IsNull());
}

TEST_CASE("bounded json: objects up to the limit parse, one level more is refused") {
  rapidjson::Document d;
  REQUIRE(parse(objects(127), &d).ok());
  CHECK(depthOf(d) == 127);
  REQUIRE(parse(objects(128), &d).ok());
  CHECK(depthOf(d) == 128);
  ParseResult r = parse(objects(129), &d);
  CHECK(r.tooDeep());
  CHECK(r.reason().find("128") != std::string::npos);
}

TEST_CASE("bounded json: arrays and objects count together") {
  std::string mixed;
  for (int i = 0; i < 64; ++i) mixed += "[{\"k\":";
  mixed += "null";
  for (int i = 0; i < 64; ++i) mixed += "}]";
  rapidjson::Document d;
  REQUIRE(parse(mixed, &d).ok());
  CHECK(depthOf(d) == 128);
  CHECK(parse("[" + mixed + "]", &d).tooDeep());
}

TEST_CASE("bounded json: 100,000 levels are refused without exhausting the stack") {
  rapidjson::Document d;
  CHECK(parse(arrays(100000), &d).tooDeep());
  CHECK(parse(objects(100000), &d).tooDeep());
  CHECK(parse(std::string(100000, '['), &d).tooDeep());  // never closed: the depth is reported first
  CHECK(nestsTooDeep(arrays(100000)));
  CHECK(nestsTooDeep(objects(100000)));
}

TEST_CASE("bounded json: brackets inside strings and keys do not count") {
  std::string brackets(1000, '[');
  std::string text = "[{\"" + brackets + "\":\"" + std::string(1000, '{') + "\"},\"" + brackets + "\"]";
  rapidjson::Document d;
  REQUIRE(parse(text, &d).ok());
  CHECK(depthOf(d) == 2);
  CHECK_FALSE(nestsTooDeep(text));
  CHECK_FALSE(nestsTooDeep("\"" + arrays(200) + "\""));
}

TEST_CASE("bounded json: syntax errors keep their code and offset and are not depth errors") {
  rapidjson::Document d;
  ParseResult r = parse("{\"a\": [1, 2,", &d);
  CHECK_FALSE(r.ok());
  CHECK_FALSE(r.tooDeep());
  CHECK(r.offset() == 12);
  CHECK(r.reason() == "Invalid value.");
  CHECK(parse("", &d).code() == rapidjson::kParseErrorDocumentEmpty);
  CHECK(parse(std::string_view(), &d).code() == rapidjson::kParseErrorDocumentEmpty);
  CHECK(parse("[1] [2]", &d).code() == rapidjson::kParseErrorDocumentRootNotSingular);
  // A syntax error before the limit is reached is reported as such.
  CHECK_FALSE(parse("[[x" + arrays(200), &d).tooDeep());
  CHECK_FALSE(nestsTooDeep("[[x" + arrays(200)));
}

TEST_CASE("bounded json: a failed parse leaves the document null, a later one fills it again") {
  rapidjson::Document d;
  REQUIRE(parse(R"({"kept":true})", &d).ok());
  REQUIRE(d.IsObject());
  REQUIRE_FALSE(parse(arrays(200), &d).ok());
  CHECK(d.IsNull());
  REQUIRE(parse(R"([1,"two",{"three":3.5}])", &d).ok());
  CHECK(d[2]["three"].GetDouble() == 3.5);
}

TEST_CASE("bounded json: extra flags apply (invalid UTF-8 refused on request)") {
  std::string bad = "\"\xff\xfe\"";
  rapidjson::Document d;
  CHECK(parse(bad, &d).ok());  // RapidJSON's default: bytes pass through
  ParseResult strict = parse<rapidjson::kParseValidateEncodingFlag>(bad, &d);
  CHECK(strict.code() == rapidjson::kParseErrorStringInvalidEncoding);
  CHECK_FALSE(strict.tooDeep());
}

TEST_CASE("bounded json: a document at the limit survives the recursive walks (write and copy)") {
  rapidjson::Document d;
  REQUIRE(parse(arrays(kMaxDepth), &d).ok());
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  REQUIRE(d.Accept(w));
  CHECK(std::string(buf.GetString(), buf.GetSize()) == arrays(kMaxDepth));
  rapidjson::Document copy;
  copy.CopyFrom(d, copy.GetAllocator());
  CHECK(depthOf(copy) == kMaxDepth);
}

TEST_CASE("bounded json: nestsTooDeep refuses only nesting past the limit") {
  CHECK_FALSE(nestsTooDeep(""));
  CHECK_FALSE(nestsTooDeep("not json at all"));
  CHECK_FALSE(nestsTooDeep(arrays(kMaxDepth)));
  CHECK(nestsTooDeep(arrays(kMaxDepth + 1)));
  std::string unclosed;
  for (unsigned i = 0; i <= kMaxDepth; ++i) unclosed += "{\"a\":";
  CHECK(nestsTooDeep(unclosed));  // the depth is reached before the missing end
  // Many brackets side by side are not depth.
  std::string wide = "[";
  for (int i = 0; i < 1000; ++i) wide += "[],";
  wide += "[]]";
  CHECK_FALSE(nestsTooDeep(wide));
}

// Found by tests/fuzz (http_body_fuzz, extras_fuzz): RapidJSON 1.1.0 refuses 1e309 but rounds
// 0.51e309 to infinity, and its writer then stops mid-document, so re-serialised extras or tool
// schemas came out as truncated JSON.
TEST_CASE("bounded json: numbers that overflow a double are refused like RapidJSON's own 1e309") {
  rapidjson::Document d;
  for (const char* text : {"[1e309]", "[0.51e309]", "[99e307]", "{\"a\":-0.51e309}", "0.51e309"}) {
    INFO(text);
    ParseResult r = parse(text, &d);
    CHECK(r.code() == rapidjson::kParseErrorNumberTooBig);
    CHECK_FALSE(r.tooDeep());
    CHECK(d.IsNull());
  }
  REQUIRE(parse("[1.79e308,-1.79e308,4.9e-324]", &d).ok());
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  CHECK(d.Accept(w));  // everything parsed can be written back
  CHECK_FALSE(nestsTooDeep("[0.51e309" + arrays(200)));  // the number ends the scan first
}
