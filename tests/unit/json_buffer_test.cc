// json::JsonBuffer (sidecar/json/json_buffer.h): RapidJSON's Writer writes the same bytes into it
// as into its own StringBuffer, whatever the strings hold and however far the buffer grows.
#include <catch2/catch.hpp>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <random>
#include <string>
#include <vector>

#include "json_buffer.h"

using outrigger::json::JsonBuffer;

namespace {

// Strings that exercise every branch of the writer's copy: plain ASCII, quotes and backslashes,
// control characters (\n, \u0001), UTF-8 of two to four bytes, an embedded NUL, and a long run
// that crosses the buffer's growth steps.
std::vector<std::string> samples() {
  return {"",
          "gen_ai.request.model",
          "say \"hi\" \\ bye",
          std::string("line\nbreak\ttab\x01\x1f end"),
          "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
          std::string("nul\0inside", 10),
          std::string(5000, 'x') + "\"" + std::string(3000, 'y')};
}

template <class Out>
void writeDocument(rapidjson::Writer<Out>& w, int seed) {
  std::mt19937 rng(static_cast<unsigned>(seed));
  std::vector<std::string> strings = samples();
  w.StartObject();
  for (int i = 0; i < 200; ++i) {
    const std::string& k = strings[rng() % strings.size()];
    const std::string& v = strings[rng() % strings.size()];
    w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
    switch (rng() % 4) {
      case 0: w.String(v.data(), static_cast<rapidjson::SizeType>(v.size())); break;
      case 1: w.Int64(static_cast<int64_t>(rng()) - (1 << 30)); break;
      case 2: w.Double(static_cast<double>(rng()) / 7.0); break;
      default:
        w.StartArray();
        w.Bool(true);
        w.Null();
        w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
        w.EndArray();
    }
  }
  w.EndObject();
}

}  // namespace

TEST_CASE("json buffer: the writer's bytes are StringBuffer's, through escapes, UTF-8, NULs and growth") {
  for (int seed = 0; seed < 20; ++seed) {
    rapidjson::StringBuffer expected;
    rapidjson::Writer<rapidjson::StringBuffer> we(expected);
    writeDocument(we, seed);
    JsonBuffer got;
    rapidjson::Writer<JsonBuffer> wg(got);
    writeDocument(wg, seed);
    INFO("seed " << seed);
    REQUIRE(got.size() == expected.GetSize());
    CHECK(got.view() == std::string_view(expected.GetString(), expected.GetSize()));
  }
}

TEST_CASE("json buffer: clear keeps writing from the start, and append and Put grow it") {
  JsonBuffer b;
  CHECK(b.empty());
  b.append("abc");
  for (int i = 0; i < 1000; ++i) b.Put(static_cast<char>('0' + i % 10));
  CHECK(b.size() == 1003);
  CHECK(b.view().substr(0, 5) == "abc01");
  b.clear();
  CHECK(b.empty());
  b.append(std::string(70000, 'z'));
  b.Put('!');
  CHECK(b.size() == 70001);
  CHECK(b.view().back() == '!');
  CHECK(b.view().find_first_not_of('z') == 70000);
}
