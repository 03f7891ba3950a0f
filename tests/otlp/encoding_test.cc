// exporter.otlp's encoding, as pure functions over the host's own record views: the span tree
// (root SERVER span parented to the caller, CLIENT attempt spans, apply_guardrail spans), typed
// GenAI attributes, content only under capture full, the metrics histograms with the
// conventions' bucket boundaries, gzip, the plugin through the real loader and its example config.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <chrono>
#include <memory>
#include <random>

#include "chain/chain.h"
#include "chain/host_api.h"
#include "config/config.h"
#include "chain/owned_messages.h"
#include "genai_metrics.h"
#include "gzip.h"
#include "otlp_settings.h"
#include "otlp/otlp_spans.h"
#include "otlp/traced_record.h"
#include "otlp_json.h"
#include "otlp_proto.h"
#include "plugin/instance.h"
#include "plugin/loader.h"
#include "span_encoder.h"
#include "support/daemon_process.h"
#include "telemetry/record_view.h"
#include "telemetry/span_trace.h"

using namespace outrigger;
using namespace outrigger::otlp;
using outrigger::testing::findSpan;
using outrigger::testing::OtlpSpan;
using outrigger::testing::kStart;
using outrigger::testing::tracedRecord;

namespace {

std::vector<OtlpSpan> encode(const telemetry::RequestRecord& r, uint32_t* count = nullptr) {
  telemetry::RecordView view(r);
  std::string spans;
  uint32_t n = appendRecordSpans(*view.get(), Encoding::kJson, &spans);
  if (count) *count = n;
  std::string body = tracesRequest(Encoding::kJson, resourceJson("svc", {{"deployment.environment", "test"}}), spans);
  rapidjson::Document d;
  d.Parse(body.c_str(), body.size());
  REQUIRE_FALSE(d.HasParseError());
  CHECK(std::string(d["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"].GetString()) == "svc");
  return testing::otlpSpans(d);
}

}  // namespace

TEST_CASE("encoding: an attribute written in one step is the JSON RapidJSON's calls write") {
  // The attributes copy their fixed text whole; keys and values must still be escaped exactly as
  // String() escapes them, and the commas between array elements stay the Writer's.
  const std::string tricky[] = {"", "plain", "quote \" backslash \\ slash /", "tab\tnewline\ncr\r", std::string("nul\0x", 5),
                                "\x01\x1f control", "caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80", "</script>"};
  auto viaCalls = [&](auto&& value) {
    json::JsonBuffer buf;
    rapidjson::Writer<json::JsonBuffer> w(buf);
    w.StartArray();
    for (const std::string& k : tricky) {
      w.StartObject();
      w.Key("key");
      w.String(k.data(), static_cast<rapidjson::SizeType>(k.size()));
      w.Key("value");
      w.StartObject();
      value(w, k);
      w.EndObject();
      w.EndObject();
    }
    w.EndArray();
    return std::string(buf.view());
  };
  auto inOneStep = [&](auto&& attribute) {
    json::JsonBuffer buf;
    JsonWriter w(buf);
    w.StartArray();
    for (const std::string& k : tricky) attribute(w, k);
    w.EndArray();
    return std::string(buf.view());
  };
  CHECK(inOneStep([](JsonWriter& w, const std::string& k) { writeStringAttribute(w, k, k + "\x7f\"v"); }) ==
        viaCalls([](auto& w, const std::string& k) {
          w.Key("stringValue");
          std::string v = k + "\x7f\"v";
          w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
        }));
  CHECK(inOneStep([](JsonWriter& w, const std::string& k) { writeIntAttribute(w, k, -9223372036854775807LL - 1); }) ==
        viaCalls([](auto& w, const std::string&) {
          w.Key("intValue");
          w.String("-9223372036854775808");
        }));
  CHECK(inOneStep([](JsonWriter& w, const std::string& k) { writeDoubleAttribute(w, k, 0.000123456789); }) ==
        viaCalls([](auto& w, const std::string&) {
          w.Key("doubleValue");
          w.Double(0.000123456789);
        }));
  CHECK(inOneStep([](JsonWriter& w, const std::string& k) { writeBoolAttribute(w, k, k.size() % 2); }) ==
        viaCalls([](auto& w, const std::string& k) {
          w.Key("boolValue");
          w.Bool(k.size() % 2);
        }));
  rapidjson::Document d;
  d.Parse(inOneStep([](JsonWriter& w, const std::string& k) { writeStringAttribute(w, k, k); }).c_str());
  REQUIRE(d.IsArray());
  CHECK(d.Size() == std::size(tricky));
}

TEST_CASE("encoding: the root is a SERVER span in the caller's trace, parented to its traceparent span") {
  uint32_t n = 0;
  auto spans = encode(tracedRecord(config::Capture::kNone), &n);
  REQUIRE(n == 5);
  REQUIRE(spans.size() == 5);
  const OtlpSpan& root = spans[0];
  CHECK(root.name == "chat claude-x");  // the model the request first asked for
  CHECK(root.kind == 2);
  CHECK(root.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(root.span_id == "a1a2a3a4a5a6a7a8");
  CHECK(root.parent_span_id == "00f067aa0ba902b7");
  CHECK(root.start_ns == kStart);
  CHECK(root.end_ns == kStart + 900000000);
  CHECK(root.text("gen_ai.operation.name") == "chat");
  CHECK(root.text("gen_ai.request.model") == "claude-x");
  CHECK(root.text("gen_ai.response.model") == "gpt-4o");
  CHECK(root.text("gen_ai.conversation.id") == "conv-7");
  CHECK(root.text("outrigger.tenant") == "acme");
  CHECK(root.type("gen_ai.usage.input_tokens") == "int");
  CHECK(root.text("gen_ai.usage.input_tokens") == "120");
  CHECK(root.attributes.at("gen_ai.response.time_to_first_chunk").number == Approx(0.6));
  CHECK(root.status_code == 0);
  for (size_t i = 1; i < spans.size(); ++i) CHECK(spans[i].parent_span_id == "a1a2a3a4a5a6a7a8");
}

TEST_CASE("encoding: each provider attempt is a CLIENT span named {operation} {model}, with typed usage and its error") {
  auto spans = encode(tracedRecord(config::Capture::kNone));
  const OtlpSpan* failed = nullptr;  // the root has the same name: the attempt comes after it
  for (size_t i = 1; i < spans.size(); ++i) {
    if (spans[i].name == "chat claude-x") failed = &spans[i];
  }
  REQUIRE(failed);
  const OtlpSpan* answered = findSpan(spans, "chat gpt-4o");
  REQUIRE(answered);
  CHECK(failed->kind == 3);
  CHECK(failed->status_code == 2);
  CHECK(failed->status_message == "UNAVAILABLE");
  CHECK(failed->text("error.type") == "UNAVAILABLE");
  CHECK(answered->kind == 3);
  CHECK(answered->status_code == 0);
  CHECK(answered->span_id == "d1d2d3d4d5d6d7d8");
  CHECK(answered->start_ns == kStart + 300000000);
  CHECK(answered->end_ns == kStart + 800000000);
  CHECK(answered->text("gen_ai.provider.name") == "openai");
  CHECK(answered->text("gen_ai.response.model") == "gpt-4o-2024-08-06");
  CHECK(answered->type("gen_ai.usage.output_tokens") == "int");
  CHECK(answered->text("gen_ai.usage.output_tokens") == "30");
  CHECK(answered->text("gen_ai.usage.cache_read.input_tokens") == "100");
  CHECK(answered->text("gen_ai.usage.reasoning.output_tokens") == "8");
  CHECK(answered->type("outrigger.cost_usd") == "double");
  CHECK(answered->type("gen_ai.response.finish_reasons") == "array");
  CHECK(answered->text("gen_ai.response.finish_reasons") == "stop");
  CHECK(answered->text("gen_ai.request.stream") == "true");
  // The first chunk reached the client 0.6 s after the request arrived: 0.3 s into this attempt.
  CHECK(answered->attributes.at("gen_ai.response.time_to_first_chunk").number == Approx(0.3));
  CHECK_FALSE(failed->has("gen_ai.response.finish_reasons"));
}

TEST_CASE("encoding: a guardrail is an apply_guardrail span with its verdict as the result and a result event") {
  auto spans = encode(tracedRecord(config::Capture::kNone));
  const OtlpSpan* g = findSpan(spans, "apply_guardrail input_rules");
  REQUIRE(g);
  CHECK(g->kind == 1);
  CHECK(g->text("gen_ai.operation.name") == "apply_guardrail");
  CHECK(g->text("gen_ai.guardrail.component.name") == "input_rules");
  CHECK(g->text("gen_ai.guardrail.source") == "input");
  CHECK(g->text("gen_ai.guardrail.result.value") == "pass");
  REQUIRE(g->events == std::vector<std::string>{"gen_ai.guardrail.result"});
  CHECK(g->event_attributes.at("gen_ai.guardrail.result").at("gen_ai.guardrail.result.value").text == "pass");
  const OtlpSpan* cache = findSpan(spans, "cache.lookup memo");
  REQUIRE(cache);
  CHECK(cache->kind == 1);
  CHECK(cache->type("outrigger.cache.hit") == "bool");
  CHECK(cache->text("outrigger.cache.hit") == "false");
}

TEST_CASE("encoding: prompt and answer appear only under capture full, on the attempt that answered") {
  for (auto capture : {config::Capture::kNone, config::Capture::kMetadata}) {
    for (const auto& s : encode(tracedRecord(capture))) {
      CHECK_FALSE(s.has("gen_ai.input.messages"));
      CHECK_FALSE(s.has("gen_ai.output.messages"));
    }
  }
  auto spans = encode(tracedRecord(config::Capture::kFull));
  const OtlpSpan& answered = spans[3];
  REQUIRE(answered.span_id == "d1d2d3d4d5d6d7d8");
  rapidjson::Document in, out;
  in.Parse(answered.text("gen_ai.input.messages").c_str());
  out.Parse(answered.text("gen_ai.output.messages").c_str());
  REQUIRE(in.IsArray());
  REQUIRE(in.Size() == 3);
  CHECK(std::string(in[0]["role"].GetString()) == "user");
  CHECK(std::string(in[0]["parts"][0]["content"].GetString()) == "my [EMAIL]");
  CHECK(std::string(in[1]["parts"][0]["type"].GetString()) == "tool_call");
  CHECK(std::string(in[1]["parts"][0]["arguments"]["q"].GetString()) == "x");
  CHECK(std::string(in[2]["parts"][0]["type"].GetString()) == "tool_call_response");
  CHECK(std::string(in[2]["parts"][0]["id"].GetString()) == "call_1");
  REQUIRE(out.IsArray());
  CHECK(std::string(out[0]["role"].GetString()) == "assistant");
  CHECK(std::string(out[0]["parts"][0]["content"].GetString()) == "the answer");
  CHECK(std::string(out[0]["finish_reason"].GetString()) == "stop");
  for (size_t i = 0; i < spans.size(); ++i) {
    if (i != 3) CHECK_FALSE(spans[i].has("gen_ai.input.messages"));
  }
}

TEST_CASE("encoding: a record without a valid trace id, or from a host without traces, writes nothing") {
  telemetry::RequestRecord r = tracedRecord(config::Capture::kNone);
  r.trace_id = "not-a-trace";
  telemetry::RecordView bad(r);
  std::string out;
  CHECK(appendRecordSpans(*bad.get(), Encoding::kJson, &out) == 0);
  CHECK(out.empty());
  telemetry::RequestRecord ok = tracedRecord(config::Capture::kNone);
  telemetry::RecordView view(ok);
  outrigger_record_view older = *view.get();
  older.hdr.struct_size = OUTRIGGER_SIZE_THROUGH(outrigger_record_view, verdict_count);
  CHECK(appendRecordSpans(older, Encoding::kJson, &out) == 0);
  CHECK(out.empty());
}

TEST_CASE("metrics: token usage and duration histograms per attempt with the conventions' bucket boundaries") {
  GenAiMetrics m(kStart);
  telemetry::RequestRecord r = tracedRecord(config::Capture::kNone);
  telemetry::RecordView view(r);
  m.observe(*view.get());
  m.observe(*view.get());
  std::string body = m.request(Encoding::kJson, resourceJson("svc", {}), kStart + 1000, {{"exported", 10}, {"dropped", 2}});
  rapidjson::Document d;
  d.Parse(body.c_str());
  REQUIRE_FALSE(d.HasParseError());
  const auto& metrics = d["resourceMetrics"][0]["scopeMetrics"][0]["metrics"];
  REQUIRE(metrics.Size() == 3);
  const auto& tokens = metrics[0];
  CHECK(std::string(tokens["name"].GetString()) == "gen_ai.client.token.usage");
  CHECK(std::string(tokens["unit"].GetString()) == "{token}");
  CHECK(tokens["histogram"]["aggregationTemporality"].GetInt() == 2);
  // The failed attempt reported no tokens: only the answering one counts, input and output.
  const auto& points = tokens["histogram"]["dataPoints"];
  REQUIRE(points.Size() == 2);
  std::vector<double> bounds;
  for (const auto& b : points[0]["explicitBounds"].GetArray()) bounds.push_back(b.GetDouble());
  CHECK(bounds == std::vector<double>(kTokenBounds.begin(), kTokenBounds.end()));
  CHECK(bounds.front() == 1);
  CHECK(bounds.back() == 67108864);
  for (const auto& p : points.GetArray()) {
    auto attrs = testing::otlpAttributes(p["attributes"]);
    CHECK(attrs.at("gen_ai.provider.name").text == "openai");
    CHECK(attrs.at("gen_ai.request.model").text == "gpt-4o");
    CHECK(std::string(p["count"].GetString()) == "2");
    REQUIRE(p["bucketCounts"].Size() == kTokenBounds.size() + 1);
    // 120 input tokens fall in (64, 256], bucket 4; 30 output tokens in (16, 64], bucket 3.
    size_t bucket = attrs.at("gen_ai.token.type").text == "input" ? 4 : 3;
    CHECK(std::string(p["bucketCounts"][static_cast<rapidjson::SizeType>(bucket)].GetString()) == "2");
  }
  const auto& duration = metrics[1];
  CHECK(std::string(duration["name"].GetString()) == "gen_ai.client.operation.duration");
  CHECK(std::string(duration["unit"].GetString()) == "s");
  const auto& dp = duration["histogram"]["dataPoints"];
  REQUIRE(dp.Size() == 2);  // one series per attempt's attributes: the failed one carries error.type
  std::vector<double> dbounds;
  for (const auto& b : dp[0]["explicitBounds"].GetArray()) dbounds.push_back(b.GetDouble());
  CHECK(dbounds == std::vector<double>(kDurationBounds.begin(), kDurationBounds.end()));
  int with_error = 0;
  for (const auto& p : dp.GetArray()) with_error += testing::otlpAttributes(p["attributes"]).count("error.type");
  CHECK(with_error == 1);
  CHECK(std::string(metrics[2]["name"].GetString()) == "outrigger.otlp.spans");
  CHECK(metrics[2]["sum"]["isMonotonic"].GetBool());
}

TEST_CASE("metrics: a value on a bucket boundary counts in that bucket (upper-inclusive)") {
  Histogram h;
  h.observe(4, kTokenBounds.data(), kTokenBounds.size());
  h.observe(5, kTokenBounds.data(), kTokenBounds.size());
  h.observe(1e9, kTokenBounds.data(), kTokenBounds.size());
  CHECK(h.buckets[1] == 1);
  CHECK(h.buckets[2] == 1);
  CHECK(h.buckets[kTokenBounds.size()] == 1);
  CHECK(h.count == 3);
  CHECK(h.min == 4);
  CHECK(h.max == 1e9);
}

TEST_CASE("metrics: past the series bound attempts go to the overflow series, so totals stay whole") {
  GenAiMetrics m(kStart, 2);
  for (int i = 0; i < 5; ++i) {
    telemetry::RequestRecord r = tracedRecord(config::Capture::kNone);
    r.spans.erase(r.spans.begin() + 1);  // the answering attempt only
    telemetry::setAttribute(&r.spans[1].attributes, "gen_ai.request.model", "m" + std::to_string(i));
    telemetry::RecordView view(r);
    m.observe(*view.get());
  }
  CHECK(m.refusedSeries() > 0);
  std::string body = m.request(Encoding::kJson, "{}", kStart + 1000, {});
  rapidjson::Document d;
  REQUIRE_FALSE(d.Parse(body.c_str()).HasParseError());
  uint64_t durations = 0, overflow_points = 0;
  for (const auto& metric : d["resourceMetrics"][0]["scopeMetrics"][0]["metrics"].GetArray()) {
    for (const auto& point : metric["histogram"]["dataPoints"].GetArray()) {
      const auto& attrs = point["attributes"];
      bool overflow = attrs.Size() == 1 && std::string(attrs[0]["key"].GetString()) == "otel.metric.overflow" &&
                      attrs[0]["value"]["boolValue"].GetBool();
      overflow_points += overflow;
      if (std::string(metric["name"].GetString()) == "gen_ai.client.operation.duration") {
        durations += std::stoull(point["count"].GetString());
      }
    }
  }
  CHECK(durations == 5);  // every attempt, in its own series or the overflow one
  CHECK(overflow_points >= 1);
}

TEST_CASE("gzip: a body round-trips and is smaller") {
  std::string body;
  for (int i = 0; i < 200; ++i) body += R"({"key":"gen_ai.usage.input_tokens","value":{"intValue":"12"}},)";
  std::string packed, back;
  REQUIRE(gzip(body, &packed));
  CHECK(packed.size() < body.size() / 5);
  CHECK(static_cast<unsigned char>(packed[0]) == 0x1f);
  CHECK(static_cast<unsigned char>(packed[1]) == 0x8b);
  REQUIRE(gunzip(packed, &back));
  CHECK(back == body);
  CHECK_FALSE(gunzip(packed.substr(0, packed.size() / 2), &back));
}

TEST_CASE("plugin: loads through the real loader, and a bad endpoint or a relative spool path is a create error") {
  auto types = plugin::loadLibrary(std::string(OUTRIGGER_PLUGIN_DIR) + "/exporter_otlp.so");
  REQUIRE(types.ok());
  REQUIRE(types.value().size() == 1);
  auto create = [&](const std::string& json) {
    config::InstanceSettings s{"otel", "exporter", "otlp", json, config::OnError::kSkip, "t:1", {}};
    return plugin::PluginInstance::create(*types.value()[0], s, chain::hostApiTemplate());
  };
  CHECK(create(R"({"endpoint": "http://127.0.0.1:4318"})").ok());
  auto bad = create(R"({"endpoint": "ftp://127.0.0.1:4318"})");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("endpoint") != std::string::npos);
  auto relative = create(R"({"endpoint": "http://127.0.0.1:4318", "spool_path": "spool"})");
  REQUIRE_FALSE(relative.ok());
  CHECK(relative.status().message().find("spool_path") != std::string::npos);
  auto unknown = create(R"({"endpoint": "http://127.0.0.1:4318", "batch_size": 3})");
  CHECK_FALSE(unknown.ok());
}

TEST_CASE("plugin: the example config/otlp.toml builds a chain with its otlp exporter on both routes") {
  auto settings = config::loadConfigFile(std::string(OUTRIGGER_SOURCE_DIR) + "/config/otlp.toml");
  REQUIRE(settings.ok());
  settings->plugin_dirs = {OUTRIGGER_PLUGIN_DIR};
  auto chain = chain::buildChain(settings.value(), 2, 1);
  INFO((chain.ok() ? std::string() : chain.status().message()));
  REQUIRE(chain.ok());
  REQUIRE(chain.value()->exporters.size() == 1);
  CHECK(chain.value()->exporters[0]->name() == "otel");
}

// Figures, not a pass/fail timing: run with `otlp_tests "[bench]"`. Distinct ids, counts and
// timings per record, so gzip sees what it would in production (minus prompt text).
TEST_CASE("encoding: cost of encoding and gzipping a batch of records", "[.][bench]") {
  constexpr int kDistinct = 2000;
  constexpr int kRecords = 20000;
  constexpr int kPerBatch = 100;  // 5 spans each: a 500-span batch
  std::mt19937_64 rng(11);
  auto hex = [&](size_t n) {
    std::string s(n, '0');
    for (char& c : s) c = "0123456789abcdef"[rng() & 0xf];
    return s;
  };
  std::vector<telemetry::RequestRecord> records;
  for (int i = 0; i < kDistinct; ++i) {
    telemetry::RequestRecord r = tracedRecord(config::Capture::kNone);
    r.trace_id = hex(32);
    r.root_span_id = hex(16);
    r.root_parent_span_id = hex(16);
    r.start_unix_ns += rng() % 1000000000000;
    r.duration_ns = rng() % 5000000000;
    for (auto& sp : r.spans) {
      sp.span_id = hex(16);
      sp.parent_span_id = r.root_span_id;
      sp.start_unix_ns = r.start_unix_ns + rng() % 100000000;
      sp.duration_ns = rng() % 1000000000;
      telemetry::setAttribute(&sp.attributes, "gen_ai.usage.input_tokens", std::to_string(rng() % 5000));
    }
    records.push_back(std::move(r));
  }
  std::vector<std::unique_ptr<telemetry::RecordView>> views;
  for (const auto& r : records) views.push_back(std::make_unique<telemetry::RecordView>(r));
  for (Encoding encoding : {Encoding::kJson, Encoding::kProtobuf, Encoding::kJson, Encoding::kProtobuf}) {
    std::string resource = encodedResource(encoding, "svc", {});
    size_t raw = 0, packed = 0;
    uint64_t encode_ns = 0, gzip_ns = 0;
    std::string spans;
    for (int i = 0; i < kRecords; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      appendRecordSpans(*views[i % kDistinct]->get(), encoding, &spans);
      encode_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
      if ((i + 1) % kPerBatch == 0) {
        auto t1 = std::chrono::steady_clock::now();
        std::string body = tracesRequest(encoding, resource, spans), gz;
        REQUIRE(gzip(body, &gz));
        gzip_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t1).count();
        raw += body.size();
        packed += gz.size();
        spans.clear();
      }
    }
    WARN((encoding == Encoding::kJson ? "JSON    " : "protobuf") << " records " << kRecords << " (5 spans each): encode "
         << encode_ns / kRecords / 1000.0 << " us/record, gzip " << gzip_ns / kRecords / 1000.0 << " us/record; "
         << raw / kRecords << " B/record, gzipped " << packed / kRecords << " B/record ("
         << static_cast<double>(raw) / packed << "x)");
  }
}

TEST_CASE("settings: bodies are protobuf unless the config says json") {
  outrigger::otlp::OtlpSettings s;
  std::string error;
  REQUIRE(outrigger::otlp::parseSettings(R"({"endpoint":"http://collector:4318"})", &s, &error));
  CHECK(s.encoding == Encoding::kProtobuf);
  REQUIRE(outrigger::otlp::parseSettings(R"({"endpoint":"http://collector:4318","encoding":"json"})", &s, &error));
  CHECK(s.encoding == Encoding::kJson);
  CHECK(std::string(contentType(Encoding::kJson)) == "application/json");
  CHECK(std::string(contentType(Encoding::kProtobuf)) == "application/x-protobuf");
}

TEST_CASE("settings: the memory queue is bounded at 64 MiB of encoded batches unless the config says otherwise") {
  outrigger::otlp::OtlpSettings s;
  std::string error;
  REQUIRE(outrigger::otlp::parseSettings(R"({"endpoint":"http://collector:4318"})", &s, &error));
  CHECK(s.max_queue_bytes == 64ull << 20);
  REQUIRE(outrigger::otlp::parseSettings(R"({"endpoint":"http://collector:4318","max_queue_bytes":1048576})", &s, &error));
  CHECK(s.max_queue_bytes == 1048576);
}

TEST_CASE("settings: gzip defaults to off for a collector on this machine and on for any other, and the config wins") {
  using outrigger::otlp::loopbackEndpoint;
  for (const char* local : {"http://127.0.0.1:4318", "http://localhost:4318/", "https://127.8.9.1", "http://[::1]:4318",
                            "http://user@localhost:4318/otlp"}) {
    INFO(local);
    CHECK(loopbackEndpoint(local));
  }
  for (const char* remote : {"http://otel-collector:4318", "https://api.honeycomb.io", "http://10.0.0.7:4318",
                             "http://localhost.example.com:4318", "http://[::2]:4318", "http://1127.0.0.1"}) {
    INFO(remote);
    CHECK_FALSE(loopbackEndpoint(remote));
  }
  outrigger::otlp::OtlpSettings s;
  std::string error;
  REQUIRE(outrigger::otlp::parseSettings(R"({"endpoint":"http://127.0.0.1:4318"})", &s, &error));
  CHECK_FALSE(s.gzip);
  REQUIRE(outrigger::otlp::parseSettings(R"({"endpoint":"http://collector:4318"})", &s, &error));
  CHECK(s.gzip);
  REQUIRE(outrigger::otlp::parseSettings(R"({"endpoint":"http://127.0.0.1:4318","gzip":true})", &s, &error));
  CHECK(s.gzip);
}
