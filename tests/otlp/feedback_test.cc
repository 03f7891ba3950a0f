// exporter.otlp's feedback encoding: a wire Feedback as an OTLP log record carrying the GenAI
// evaluation event (gen_ai.evaluation.result) with its score, label, explanation, the answer's
// trace and root span, and the request's metadata; and the bounded index of recent root spans
// that supplies the span.
#include <catch2/catch.hpp>

#include <outrigger/plugin.hpp>
#include <rapidjson/document.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "feedback_encoder.h"
#include "otlp_json.h"
#include "root_span_index.h"

using namespace outrigger::otlp;
using outrigger::plugin::str;

namespace {

constexpr char kTrace[] = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr char kRootSpan[] = "00f067aa0ba902b7";

// A log record's attributes by key, each value as its JSON text ("0.25", "\"good\"").
std::map<std::string, std::string> attributesOf(const rapidjson::Value& record) {
  std::map<std::string, std::string> out;
  for (const auto& a : record["attributes"].GetArray()) {
    const rapidjson::Value& v = a["value"];
    std::string text;
    if (v.HasMember("stringValue")) text = std::string("\"") + v["stringValue"].GetString() + "\"";
    if (v.HasMember("doubleValue")) text = std::to_string(v["doubleValue"].GetDouble());
    out[a["key"].GetString()] = text;
  }
  return out;
}

}  // namespace

TEST_CASE("feedback: a gen_ai.evaluation.result log record in the answer's trace and root span, with score, label and explanation") {
  outrigger_tag_view tags[] = {{str("gen_ai.evaluation.name"), str("helpfulness")},
                               {str("gen_ai.evaluation.score.label"), str("pass")},
                               {str("team"), str("search")}};
  outrigger_metadata_view md{};
  md.tenant = str("acme");
  md.request_id = str("req-42");
  md.session = str("conv-7");
  md.tags = tags;
  md.tag_count = 3;
  outrigger_feedback_view f{};
  f.hdr = OUTRIGGER_HEADER_INIT(outrigger_feedback_view);
  f.trace_id = str(kTrace);
  f.score = 0.25;
  f.comment = str("right answer, too long");
  f.metadata = &md;
  f.received_unix_ns = 1700000000123456789;

  outrigger_metadata_view empty{};
  outrigger_feedback_view bare{};
  bare.hdr = OUTRIGGER_HEADER_INIT(outrigger_feedback_view);
  bare.trace_id = str("not-an-otlp-trace");
  bare.score = -1;
  bare.metadata = &empty;
  bare.received_unix_ns = 1700000000000000000;

  std::string records;
  appendFeedbackLog(f, kRootSpan, Encoding::kJson, &records);
  appendFeedbackLog(bare, "", Encoding::kJson, &records);
  std::string body = logsRequest(Encoding::kJson, resourceJson("svc", {}), records);
  rapidjson::Document d;
  d.Parse(body.data(), body.size());
  REQUIRE_FALSE(d.HasParseError());
  const rapidjson::Value& scope_logs = d["resourceLogs"][0]["scopeLogs"][0];
  CHECK(std::string(d["resourceLogs"][0]["resource"]["attributes"][0]["value"]["stringValue"].GetString()) == "svc");
  CHECK(std::string(scope_logs["scope"]["name"].GetString()) == "outrigger.exporter.otlp");
  REQUIRE(scope_logs["logRecords"].Size() == 2);

  const rapidjson::Value& r = scope_logs["logRecords"][0];
  CHECK(std::string(r["eventName"].GetString()) == "gen_ai.evaluation.result");
  CHECK(std::string(r["traceId"].GetString()) == kTrace);
  CHECK(std::string(r["spanId"].GetString()) == kRootSpan);
  CHECK(std::string(r["timeUnixNano"].GetString()) == "1700000000123456789");
  CHECK(r["severityNumber"].GetInt() == 9);
  auto a = attributesOf(r);
  CHECK(a["gen_ai.evaluation.name"] == "\"helpfulness\"");
  CHECK(a["gen_ai.evaluation.score.value"] == std::to_string(0.25));
  CHECK(a["gen_ai.evaluation.score.label"] == "\"pass\"");
  CHECK(a["gen_ai.evaluation.explanation"] == "\"right answer, too long\"");
  CHECK(a["outrigger.tenant"] == "\"acme\"");
  CHECK(a["outrigger.request_id"] == "\"req-42\"");
  CHECK(a["gen_ai.conversation.id"] == "\"conv-7\"");
  CHECK(a["outrigger.tag.team"] == "\"search\"");
  CHECK(a.count("outrigger.tag.gen_ai.evaluation.name") == 0);

  // No name tag: the default name; no OTLP trace id: none on the record, the text kept apart.
  const rapidjson::Value& b = scope_logs["logRecords"][1];
  CHECK_FALSE(b.HasMember("traceId"));
  CHECK_FALSE(b.HasMember("spanId"));
  auto ba = attributesOf(b);
  CHECK(ba["gen_ai.evaluation.name"] == "\"user_feedback\"");
  CHECK(ba["gen_ai.evaluation.score.value"] == std::to_string(-1.0));
  CHECK(ba["outrigger.trace_id"] == "\"not-an-otlp-trace\"");
  CHECK(ba.count("gen_ai.evaluation.explanation") == 0);
  CHECK(ba.count("gen_ai.evaluation.score.label") == 0);
}

TEST_CASE("feedback: the root span index keeps a trace's latest root span and forgets the oldest beyond its capacity") {
  RootSpanIndex index(2);
  index.remember("t1", "s1");
  index.remember("t2", "s2");
  index.remember("t1", "s3");  // a second request in the same trace: the latest answer counts
  CHECK(index.find("t1") == "s3");
  CHECK(index.find("t2") == "s2");
  index.remember("t3", "s4");  // takes the place of t2's entry
  CHECK(index.find("t2").empty());
  CHECK(index.find("t1") == "s3");
  CHECK(index.find("t3") == "s4");
  CHECK(index.find("never").empty());
}

TEST_CASE("feedback: a trace's root span is found by its own tenant only") {
  RootSpanIndex index(4);
  index.remember(RootSpanIndex::keyOf("acme", kTrace), "s1");
  CHECK(index.find(RootSpanIndex::keyOf("acme", kTrace)) == "s1");
  CHECK(index.find(RootSpanIndex::keyOf("rival", kTrace)).empty());
  CHECK(index.find(RootSpanIndex::keyOf("", kTrace)).empty());
  // No tenant and trace id run into another pair's.
  CHECK(RootSpanIndex::keyOf("a", "b\x1f" "c") != RootSpanIndex::keyOf("a\x1f" "b", "c"));
}

TEST_CASE("feedback: the root span index answers as a scan of its last entries would, over many reused traces") {
  // Keys view the ring's own text, so slots rewritten while other entries of the same trace
  // live must never leave a key reading another trace's id.
  constexpr size_t kCapacity = 8;
  RootSpanIndex index(kCapacity);
  std::vector<std::pair<std::string, std::string>> remembered;
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) {
    // Trace ids as long as W3C's (past the small-string buffer), from a set small enough to repeat.
    std::string trace = std::string(24, 'a' + static_cast<char>(rng() % 5)) + std::to_string(rng() % 12);
    std::string span = "span-" + std::to_string(i);
    index.remember(trace, span);
    remembered.emplace_back(trace, span);
    std::string probe = std::string(24, 'a' + static_cast<char>(rng() % 5)) + std::to_string(rng() % 12);
    std::string expected;
    for (size_t back = 0; back < std::min(kCapacity, remembered.size()); ++back) {
      const auto& [t, s] = remembered[remembered.size() - 1 - back];
      if (t == probe) {
        expected = s;
        break;
      }
    }
    REQUIRE(std::string(index.find(probe)) == expected);
  }
}
