// json::JsonBuffer (sidecar/json/json_buffer.h): RapidJSON's Writer writes the same bytes into it
// as into its own StringBuffer, whatever the strings hold and however far the buffer grows.
#include <catch2/catch.hpp>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <string>
#include <string_view>
#include <utility>
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

TEST_CASE("json buffer: clear keeps writing from the start, and Put grows it") {
  JsonBuffer b;
  CHECK(b.empty());
  for (char c : std::string_view("abc")) b.Put(c);
  for (int i = 0; i < 1000; ++i) b.Put(static_cast<char>('0' + i % 10));
  CHECK(b.size() == 1003);
  CHECK(b.view().substr(0, 5) == "abc01");
  b.clear();
  CHECK(b.empty());
  for (int i = 0; i < 70000; ++i) b.Put('z');
  b.Put('!');
  CHECK(b.size() == 70001);
  CHECK(b.view().back() == '!');
  CHECK(b.view().find_first_not_of('z') == 70000);
  b.release();
  CHECK(b.empty());
  CHECK(b.capacity() == 0);
  b.Put('y');
  CHECK(b.view() == "y");
}

TEST_CASE("json buffer: a large reservation takes what it asks for, not the next doubling past it") {
  // The Writer reserves six bytes a character of a string (for escapes) before writing it.
  JsonBuffer b;
  rapidjson::Writer<JsonBuffer> w(b);
  std::string big(1 << 20, 'x');
  w.String(big.data(), static_cast<rapidjson::SizeType>(big.size()));
  CHECK(b.size() == big.size() + 2);
  CHECK(b.capacity() >= 6 * big.size());
  CHECK(b.capacity() < 7 * big.size());  // doubling from 256 would have reached 8 MiB
  // Small writes still double, so a buffer filled a character at a time copies O(n) in all.
  JsonBuffer small;
  small.Put('a');
  size_t first = small.capacity();
  for (size_t i = 0; i < first; ++i) small.Put('b');
  CHECK(small.capacity() == 2 * first);
}

namespace {

// One {"key":k,"value":{"stringValue":v}} object, written through a writer the caller owns, out
// of line: as the OTLP exporter writes its attributes (otlp_json.cc), so the compiler cannot see
// where the writer and its buffer live.
template <class Out>
[[gnu::noinline]] void writeAttribute(rapidjson::Writer<Out>& w, std::string_view k, std::string_view v) {
  w.StartObject();
  w.Key("key");
  w.String(k.data(), static_cast<rapidjson::SizeType>(k.size()));
  w.Key("value");
  w.StartObject();
  w.Key("stringValue");
  w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  w.EndObject();
  w.EndObject();
}

// A record's worth of OTLP-style attributes: 70 of them, from strings on the heap as a record's are.
template <class Out>
void writeAttributes(Out& out) {
  static const std::vector<std::pair<std::string, std::string>> kAttributes = {
      {"gen_ai.operation.name", "chat"},          {"gen_ai.request.model", "gpt-4o-mini"},
      {"outrigger.instance", "guardrail.pii"},    {"gen_ai.provider.name", "openai"},
      {"outrigger.stage", "guardrail.request"},   {"outrigger.route", "default"},
      {"gen_ai.response.id", "chatcmpl-9f1c2b3a4d5e6f"}};
  rapidjson::Writer<Out> w(out);
  w.StartArray();
  for (int i = 0; i < 10; ++i) {
    for (const auto& [k, v] : kAttributes) writeAttribute(w, k, v);
  }
  w.EndArray();
}

}  // namespace

// Figures, not a pass/fail timing: `unit_tests "[bench]"`. Both buffers in one run, alternating,
// the best of 5 passes of 100,000 records each, kept between records as the exporters keep theirs.
TEST_CASE("json buffer: cost of writing 70 short attributes, against StringBuffer", "[.][bench]") {
  constexpr int kRecords = 100000;
  rapidjson::StringBuffer string_buffer;
  JsonBuffer json_buffer;
  double best_string = 1e30, best_json = 1e30;
  for (int pass = 0; pass < 5; ++pass) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kRecords; ++i) {
      string_buffer.Clear();
      writeAttributes(string_buffer);
    }
    auto t1 = std::chrono::steady_clock::now();
    for (int i = 0; i < kRecords; ++i) {
      json_buffer.clear();
      writeAttributes(json_buffer);
    }
    auto t2 = std::chrono::steady_clock::now();
    best_string = std::min(best_string, std::chrono::duration<double>(t1 - t0).count());
    best_json = std::min(best_json, std::chrono::duration<double>(t2 - t1).count());
  }
  REQUIRE(json_buffer.view() == std::string_view(string_buffer.GetString(), string_buffer.GetSize()));
  WARN(json_buffer.size() << " bytes a record: StringBuffer " << best_string / kRecords * 1e6 << " us, JsonBuffer "
                          << best_json / kRecords * 1e6 << " us (" << best_string / best_json << "x)");
}
