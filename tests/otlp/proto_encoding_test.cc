// exporter.otlp's protobuf encoding, decoded with the classes protoc generated from the
// opentelemetry-proto files themselves (tests/otlp/proto), against its JSON encoding of the same
// records, metrics and feedback: every span, attribute (with its type), event, status, histogram
// point and log record field must come out the same. The field numbers the exporter writes by
// hand (otlp_proto.h) are checked here against the specification's.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "genai_metrics.h"
#include "feedback_encoder.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "otlp/otlp_spans.h"
#include "otlp/traced_record.h"
#include "otlp_json.h"
#include "otlp_proto.h"
#include "span_encoder.h"
#include "telemetry/record_view.h"

using namespace outrigger;
using namespace outrigger::otlp;
using outrigger::testing::kStart;
using outrigger::testing::OtlpAttr;
using outrigger::testing::OtlpSpan;
using outrigger::testing::tracedRecord;
namespace otel = opentelemetry::proto;

namespace {

std::string hex(const std::string& bytes) {
  std::string out;
  char two[3];
  for (unsigned char c : bytes) {
    std::snprintf(two, sizeof two, "%02x", c);
    out += two;
  }
  return out;
}

// An attribute as otlp_spans.h reads one from JSON, here from the generated classes.
OtlpAttr attrOf(const otel::common::v1::AnyValue& v) {
  using V = otel::common::v1::AnyValue;
  OtlpAttr a;
  switch (v.value_case()) {
    case V::kStringValue:
      a = {"string", v.string_value()};
      break;
    case V::kIntValue:
      a = {"int", std::to_string(v.int_value())};
      a.number = static_cast<double>(v.int_value());
      break;
    case V::kDoubleValue:
      a = {"double", std::to_string(v.double_value())};
      a.number = v.double_value();
      break;
    case V::kBoolValue:
      a = {"bool", v.bool_value() ? "true" : "false"};
      break;
    case V::kArrayValue:
      a.type = "array";
      for (const auto& e : v.array_value().values()) {
        if (!a.text.empty()) a.text += ",";
        a.text += e.string_value();
      }
      break;
    default:
      a.type = "unset";
  }
  return a;
}

// An attributes list by key; a key that comes again is added to *duplicates when given.
template <class List>
std::map<std::string, OtlpAttr> attrsOf(const List& list, std::vector<std::string>* duplicates = nullptr) {
  std::map<std::string, OtlpAttr> out;
  for (const auto& kv : list) {
    if (out.count(kv.key()) && duplicates) duplicates->push_back(kv.key());
    out[kv.key()] = attrOf(kv.value());
  }
  return out;
}

std::vector<OtlpSpan> spansOf(const otel::collector::trace::v1::ExportTraceServiceRequest& request) {
  std::vector<OtlpSpan> out;
  for (const auto& rs : request.resource_spans()) {
    for (const auto& ss : rs.scope_spans()) {
      for (const auto& s : ss.spans()) {
        OtlpSpan span;
        span.trace_id = hex(s.trace_id());
        span.span_id = hex(s.span_id());
        span.parent_span_id = hex(s.parent_span_id());
        span.name = s.name();
        span.kind = s.kind();
        span.start_ns = s.start_time_unix_nano();
        span.end_ns = s.end_time_unix_nano();
        span.attributes = attrsOf(s.attributes(), &span.duplicate_keys);
        span.status_code = s.status().code();
        span.status_message = s.status().message();
        for (const auto& e : s.events()) {
          span.events.push_back(e.name());
          span.event_attributes[e.name()] = attrsOf(e.attributes(), &span.duplicate_keys);
          span.event_times[e.name()] = e.time_unix_nano();
        }
        out.push_back(std::move(span));
      }
    }
  }
  return out;
}

void checkSame(const std::map<std::string, OtlpAttr>& proto, const std::map<std::string, OtlpAttr>& json) {
  REQUIRE(proto.size() == json.size());
  for (const auto& [key, a] : json) {
    INFO(key);
    REQUIRE(proto.count(key) == 1);
    CHECK(proto.at(key).type == a.type);
    CHECK(proto.at(key).text == a.text);
    if (a.type == "double") CHECK(proto.at(key).number == a.number);  // bit for bit, not to six places
  }
}

const std::string kResourceAttr = "deployment.environment";

}  // namespace

// Encodes `r` both ways (twice in one protobuf batch, as the exporter appends records), decodes
// the protobuf with the generated classes and checks it carries the JSON encoding's spans, field
// by field. Returns the spans as decoded from protobuf.
std::vector<OtlpSpan> checkBothEncodings(const telemetry::RequestRecord& r) {
  telemetry::RecordView view(r);
  std::string json_spans, proto_spans;
  uint32_t jn = appendRecordSpans(*view.get(), Encoding::kJson, &json_spans);
  uint32_t pn = appendRecordSpans(*view.get(), Encoding::kProtobuf, &proto_spans);
  pn += appendRecordSpans(*view.get(), Encoding::kProtobuf, &proto_spans);
  REQUIRE(jn > 0);
  REQUIRE(pn == 2 * jn);
  StringAttributes resource_attrs = {{kResourceAttr, "test"}};
  std::string json_body = tracesRequest(Encoding::kJson, resourceJson("svc", resource_attrs), json_spans);
  std::string proto_body =
      tracesRequest(Encoding::kProtobuf, encodedResource(Encoding::kProtobuf, "svc", resource_attrs), proto_spans);

  otel::collector::trace::v1::ExportTraceServiceRequest request;
  REQUIRE(request.ParseFromString(proto_body));
  REQUIRE(request.resource_spans_size() == 1);
  const auto& rs = request.resource_spans(0);
  auto resource = attrsOf(rs.resource().attributes());
  CHECK(resource["service.name"].text == "svc");
  CHECK(resource[kResourceAttr].text == "test");
  REQUIRE(rs.scope_spans_size() == 1);
  CHECK(rs.scope_spans(0).scope().name() == "outrigger.exporter.otlp");
  CHECK(rs.scope_spans(0).scope().version() == kPluginVersion);

  rapidjson::Document d;  // full precision: RapidJSON's default may read a double one bit off
  d.Parse<rapidjson::kParseFullPrecisionFlag>(json_body.c_str(), json_body.size());
  REQUIRE_FALSE(d.HasParseError());
  std::vector<OtlpSpan> from_json = testing::otlpSpans(d);
  std::vector<OtlpSpan> from_proto = spansOf(request);
  REQUIRE(from_json.size() == jn);
  REQUIRE(from_proto.size() == 2 * from_json.size());
  for (size_t i = 0; i < from_proto.size(); ++i) {
    const OtlpSpan& p = from_proto[i];
    const OtlpSpan& j = from_json[i % from_json.size()];
    INFO("span " << i << " " << j.name);
    CHECK(p.trace_id == j.trace_id);
    CHECK(p.span_id == j.span_id);
    CHECK(p.parent_span_id == j.parent_span_id);
    CHECK(p.name == j.name);
    CHECK(p.kind == j.kind);
    CHECK(p.start_ns == j.start_ns);
    CHECK(p.end_ns == j.end_ns);
    CHECK(p.status_code == j.status_code);
    CHECK(p.status_message == j.status_message);
    checkSame(p.attributes, j.attributes);
    CHECK(p.events == j.events);
    CHECK(p.event_times == j.event_times);
    for (const auto& [name, attrs] : j.event_attributes) checkSame(p.event_attributes.at(name), attrs);
    CHECK(p.duplicate_keys.empty());
    CHECK(j.duplicate_keys.empty());
  }
  return from_proto;
}

TEST_CASE("protobuf: a record's spans decode, with the specification's generated classes, to its JSON encoding's spans") {
  for (auto capture : {config::Capture::kNone, config::Capture::kMetadata, config::Capture::kFull}) {
    std::vector<OtlpSpan> spans = checkBothEncodings(tracedRecord(capture));
    REQUIRE(spans.size() == 10);
    // What the JSON tests check by value holds here too (not merely "the same as JSON").
    const OtlpSpan& root = spans[0];
    CHECK(root.kind == 2);
    CHECK(root.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK(root.parent_span_id == "00f067aa0ba902b7");
    CHECK(root.type("gen_ai.usage.input_tokens") == "int");
    CHECK(root.text("gen_ai.usage.input_tokens") == "120");
    CHECK(root.attributes.at("outrigger.cost_usd").number == 0.0125);
    CHECK(spans[3].has("gen_ai.output.messages") == (capture == config::Capture::kFull));
    size_t timed_events = 0;
    for (const OtlpSpan& s : spans) {
      for (const auto& [name, at] : s.event_times) timed_events += at >= s.start_ns && at <= s.end_ns;
    }
    CHECK(timed_events > 0);  // the event times compared above are there, within their spans
  }
}

// The conventions give these numeric types; they went out as strings.
TEST_CASE("protobuf and JSON: the request's penalties, top_k and choice count are numbers") {
  telemetry::RequestRecord r = tracedRecord(config::Capture::kNone);
  telemetry::setAttribute(&r.spans[2].attributes, "gen_ai.request.top_k", "40");
  telemetry::setAttribute(&r.spans[2].attributes, "gen_ai.request.frequency_penalty", "0.5");
  telemetry::setAttribute(&r.spans[2].attributes, "gen_ai.request.presence_penalty", "-0.25");
  telemetry::setAttribute(&r.spans[2].attributes, "gen_ai.request.choice.count", "2");
  std::vector<OtlpSpan> spans = checkBothEncodings(r);
  CHECK(spans[3].type("gen_ai.request.top_k") == "double");
  CHECK(spans[3].attributes.at("gen_ai.request.frequency_penalty").number == 0.5);
  CHECK(spans[3].attributes.at("gen_ai.request.presence_penalty").number == -0.25);
  CHECK(spans[3].type("gen_ai.request.choice.count") == "int");
}

TEST_CASE("protobuf: long values, long keys, negative ints and a failed request without metadata decode as in JSON") {
  telemetry::RequestRecord r = tracedRecord(config::Capture::kFull);
  r.answer = std::string(70000, 'x');  // a 3-byte length, in the attribute and in the span around it
  r.metadata.tags.emplace_back(std::string(200, 'k'), std::string(300, 'v'));  // a key over 127 bytes
  telemetry::setAttribute(&r.spans[2].attributes, "gen_ai.request.seed", "-1");  // a 10-byte varint
  telemetry::setAttribute(&r.spans[2].attributes, "gen_ai.request.max_tokens", "9223372036854775807");
  telemetry::setAttribute(&r.spans[2].attributes, "gen_ai.request.temperature", "0.30000000000000004");
  std::vector<OtlpSpan> spans = checkBothEncodings(r);
  CHECK(spans[3].text("gen_ai.request.seed") == "-1");
  CHECK(spans[3].type("gen_ai.request.seed") == "int");
  CHECK(spans[3].text("gen_ai.request.max_tokens") == "9223372036854775807");
  CHECK(spans[3].attributes.at("gen_ai.request.temperature").number == 0.30000000000000004);
  CHECK(spans[3].text("gen_ai.output.messages").size() > 70000);
  CHECK(spans[0].text("outrigger.tag." + std::string(200, 'k')) == std::string(300, 'v'));

  telemetry::RequestRecord failed = tracedRecord(config::Capture::kNone);
  failed.code = Code::kUnavailable;
  failed.message = "every target failed";
  failed.metadata = {};
  failed.stream = false;
  failed.finish_reason.clear();
  failed.root_parent_span_id.clear();
  failed.usage = {};
  failed.spans.resize(1);  // only the guardrail ran
  std::vector<OtlpSpan> f = checkBothEncodings(failed);
  REQUIRE(f.size() == 4);
  CHECK(f[0].status_code == 2);
  CHECK(f[0].status_message == "every target failed");
  CHECK(f[0].parent_span_id.empty());
  CHECK(f[0].text("error.type") == "UNAVAILABLE");
  CHECK_FALSE(f[0].has("outrigger.tenant"));
}

TEST_CASE("protobuf: the metrics decode to the JSON encoding's histograms and span counters") {
  GenAiMetrics m(kStart);
  telemetry::RequestRecord r = tracedRecord(config::Capture::kNone);
  telemetry::RecordView view(r);
  m.observe(*view.get());
  m.observe(*view.get());
  std::vector<std::pair<std::string, uint64_t>> counters = {{"exported", 10}, {"dropped", 2}};
  std::string json_body = m.request(Encoding::kJson, resourceJson("svc", {}), kStart + 1000, counters);
  std::string proto_body = m.request(Encoding::kProtobuf, encodedResource(Encoding::kProtobuf, "svc", {}), kStart + 1000, counters);
  otel::collector::metrics::v1::ExportMetricsServiceRequest request;
  REQUIRE(request.ParseFromString(proto_body));
  rapidjson::Document d;
  d.Parse<rapidjson::kParseFullPrecisionFlag>(json_body.c_str());
  REQUIRE_FALSE(d.HasParseError());
  const auto& jm = d["resourceMetrics"][0]["scopeMetrics"][0]["metrics"];
  REQUIRE(request.resource_metrics_size() == 1);
  CHECK(attrsOf(request.resource_metrics(0).resource().attributes())["service.name"].text == "svc");
  const auto& pm = request.resource_metrics(0).scope_metrics(0).metrics();
  REQUIRE(pm.size() == static_cast<int>(jm.Size()));
  REQUIRE(pm.size() == 3);
  for (int i = 0; i < 2; ++i) {  // the two histograms
    const auto& p = pm[i];
    const auto& j = jm[static_cast<rapidjson::SizeType>(i)];
    INFO(p.name());
    CHECK(p.name() == j["name"].GetString());
    CHECK(p.unit() == j["unit"].GetString());
    CHECK(p.description() == j["description"].GetString());
    REQUIRE(p.has_histogram());
    CHECK(p.histogram().aggregation_temporality() == otel::metrics::v1::AGGREGATION_TEMPORALITY_CUMULATIVE);
    const auto& jp = j["histogram"]["dataPoints"];
    REQUIRE(p.histogram().data_points_size() == static_cast<int>(jp.Size()));
    for (int k = 0; k < p.histogram().data_points_size(); ++k) {
      const auto& pp = p.histogram().data_points(k);
      const auto& jj = jp[static_cast<rapidjson::SizeType>(k)];
      checkSame(attrsOf(pp.attributes()), testing::otlpAttributes(jj["attributes"]));
      CHECK(pp.start_time_unix_nano() == kStart);
      CHECK(pp.time_unix_nano() == kStart + 1000);
      CHECK(std::to_string(pp.count()) == jj["count"].GetString());
      CHECK(pp.count() == 2);
      CHECK(pp.sum() == jj["sum"].GetDouble());
      CHECK(pp.min() == jj["min"].GetDouble());
      CHECK(pp.max() == jj["max"].GetDouble());
      REQUIRE(pp.bucket_counts_size() == static_cast<int>(jj["bucketCounts"].Size()));
      for (int b = 0; b < pp.bucket_counts_size(); ++b) {
        CHECK(std::to_string(pp.bucket_counts(b)) == jj["bucketCounts"][static_cast<rapidjson::SizeType>(b)].GetString());
      }
      REQUIRE(pp.explicit_bounds_size() == static_cast<int>(jj["explicitBounds"].Size()));
      for (int b = 0; b < pp.explicit_bounds_size(); ++b) {
        CHECK(pp.explicit_bounds(b) == jj["explicitBounds"][static_cast<rapidjson::SizeType>(b)].GetDouble());
      }
    }
  }
  const auto& spans = pm[2];
  CHECK(spans.name() == "outrigger.otlp.spans");
  REQUIRE(spans.has_sum());
  CHECK(spans.sum().is_monotonic());
  CHECK(spans.sum().aggregation_temporality() == otel::metrics::v1::AGGREGATION_TEMPORALITY_CUMULATIVE);
  REQUIRE(spans.sum().data_points_size() == 2);
  CHECK(attrsOf(spans.sum().data_points(0).attributes())["outcome"].text == "exported");
  CHECK(spans.sum().data_points(0).as_int() == 10);
  CHECK(attrsOf(spans.sum().data_points(1).attributes())["outcome"].text == "dropped");
  CHECK(spans.sum().data_points(1).as_int() == 2);
}

TEST_CASE("protobuf: a feedback log record decodes to its JSON encoding's fields") {
  auto s = [](const char* t) { return outrigger_str{t, std::char_traits<char>::length(t)}; };
  outrigger_tag_view tags[] = {{s("gen_ai.evaluation.name"), s("helpfulness")}, {s("team"), s("search")}};
  outrigger_metadata_view md{};
  md.tenant = s("acme");
  md.tags = tags;
  md.tag_count = 2;
  outrigger_feedback_view f{};
  f.hdr = OUTRIGGER_HEADER_INIT(outrigger_feedback_view);
  f.trace_id = s("4bf92f3577b34da6a3ce929d0e0e4736");
  f.score = 0.25;
  f.comment = s("right answer, too long");
  f.metadata = &md;
  f.received_unix_ns = 1700000000123456789;
  std::string json_records, proto_records;
  appendFeedbackLog(f, "a1a2a3a4a5a6a7a8", Encoding::kJson, &json_records);
  appendFeedbackLog(f, "a1a2a3a4a5a6a7a8", Encoding::kProtobuf, &proto_records);
  std::string json_body = logsRequest(Encoding::kJson, resourceJson("svc", {}), json_records);
  std::string proto_body = logsRequest(Encoding::kProtobuf, encodedResource(Encoding::kProtobuf, "svc", {}), proto_records);
  otel::collector::logs::v1::ExportLogsServiceRequest request;
  REQUIRE(request.ParseFromString(proto_body));
  rapidjson::Document d;
  d.Parse(json_body.c_str());
  REQUIRE_FALSE(d.HasParseError());
  const auto& j = d["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
  REQUIRE(request.resource_logs(0).scope_logs(0).log_records_size() == 1);
  CHECK(request.resource_logs(0).scope_logs(0).scope().name() == "outrigger.exporter.otlp");
  const auto& p = request.resource_logs(0).scope_logs(0).log_records(0);
  CHECK(p.event_name() == "gen_ai.evaluation.result");
  CHECK(p.event_name() == j["eventName"].GetString());
  CHECK(hex(p.trace_id()) == j["traceId"].GetString());
  CHECK(hex(p.span_id()) == "a1a2a3a4a5a6a7a8");
  CHECK(std::to_string(p.time_unix_nano()) == j["timeUnixNano"].GetString());
  CHECK(p.observed_time_unix_nano() == 1700000000123456789);
  CHECK(p.severity_number() == j["severityNumber"].GetInt());
  CHECK(p.severity_number() == otel::logs::v1::SEVERITY_NUMBER_INFO);
  auto attrs = attrsOf(p.attributes());
  checkSame(attrs, testing::otlpAttributes(j["attributes"]));
  CHECK(attrs["gen_ai.evaluation.score.value"].number == 0.25);
  CHECK(attrs["outrigger.tag.team"].text == "search");

  // No OTLP trace id, no score, no metadata: no ids on the record, the text kept apart.
  outrigger_metadata_view empty{};
  outrigger_feedback_view bare{};
  bare.hdr = OUTRIGGER_HEADER_INIT(outrigger_feedback_view);
  bare.trace_id = s("not-an-otlp-trace");
  bare.score = std::numeric_limits<double>::quiet_NaN();
  bare.metadata = &empty;
  bare.received_unix_ns = 1700000000000000000;
  json_records.clear();
  proto_records.clear();
  appendFeedbackLog(bare, "", Encoding::kJson, &json_records);
  appendFeedbackLog(bare, "", Encoding::kProtobuf, &proto_records);
  otel::collector::logs::v1::ExportLogsServiceRequest bare_request;
  REQUIRE(bare_request.ParseFromString(logsRequest(Encoding::kProtobuf, encodedResource(Encoding::kProtobuf, "svc", {}), proto_records)));
  std::string bare_json = logsRequest(Encoding::kJson, resourceJson("svc", {}), json_records);
  rapidjson::Document bd;
  bd.Parse(bare_json.c_str());
  REQUIRE_FALSE(bd.HasParseError());
  const auto& bp = bare_request.resource_logs(0).scope_logs(0).log_records(0);
  const auto& bj = bd["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
  CHECK(bp.trace_id().empty());
  CHECK(bp.span_id().empty());
  CHECK_FALSE(bj.HasMember("traceId"));
  auto bare_attrs = attrsOf(bp.attributes());
  checkSame(bare_attrs, testing::otlpAttributes(bj["attributes"]));
  CHECK(bare_attrs["outrigger.trace_id"].text == "not-an-otlp-trace");
  CHECK(bare_attrs["gen_ai.evaluation.name"].text == "user_feedback");
  CHECK(bare_attrs.count("gen_ai.evaluation.score.value") == 0);
}

TEST_CASE("protobuf: a collector's partial success is read from its protobuf answer, and other bytes read as none") {
  otel::collector::trace::v1::ExportTraceServiceResponse response;
  response.mutable_partial_success()->set_rejected_spans(7);
  response.mutable_partial_success()->set_error_message("spans too old");
  std::string message;
  CHECK(pb::partialRejections(response.SerializeAsString(), &message) == 7);
  CHECK(message == "spans too old");
  otel::collector::logs::v1::ExportLogsServiceResponse logs;
  logs.mutable_partial_success()->set_rejected_log_records(2);
  message.clear();
  CHECK(pb::partialRejections(logs.SerializeAsString(), &message) == 2);
  CHECK(message.empty());
  message.clear();
  CHECK(pb::partialRejections("", &message) == 0);  // an empty answer: all accepted
  CHECK(pb::partialRejections("Bad Gateway", &message) == 0);
  CHECK(pb::partialRejections(std::string("\x0a\xff\xff\xff\xff\x0f", 6), &message) == 0);  // a length past the end
  // A good partial success followed by damage: neither its count nor its message is kept.
  std::string damaged = response.SerializeAsString() + std::string("\x0a\xff\xff\xff\xff\x0f", 6);
  message = "left over";
  CHECK(pb::partialRejections(damaged, &message) == 0);
  CHECK(message.empty());
}
