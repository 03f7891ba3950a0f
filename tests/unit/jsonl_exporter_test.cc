// The built-in JSONL exporter, loaded through the real loader, fed the host's own views of a
// record and a feedback: span ids, parents, wall-clock starts and attributes; the content the
// route captured (and none when it captured none); feedback as its own line type; and a record
// view from a host without the minor 2 tail written without it.
#include <catch2/catch.hpp>

#include <fstream>

#include <rapidjson/document.h>

#include "chain/host_api.h"
#include "chain/owned_messages.h"
#include "plugin/instance.h"
#include "plugin/loader.h"
#include "support/daemon_process.h"
#include "telemetry/record_view.h"

using namespace outrigger;

namespace {

struct Jsonl {
  std::string path = testing::makeTempDir() + "/records.jsonl";
  std::shared_ptr<plugin::PluginInstance> inst;

  Jsonl() {
    auto types = plugin::loadLibrary(std::string(OUTRIGGER_PLUGIN_DIR) + "/exporter_jsonl.so");
    REQUIRE(types.ok());
    REQUIRE(types.value().size() == 1);
    config::InstanceSettings s{"log", "exporter", "jsonl", R"({"path": ")" + path + R"("})", config::OnError::kSkip,
                               "t:1", {}};
    auto created = plugin::PluginInstance::create(*types.value()[0], s, chain::hostApiTemplate());
    REQUIRE(created.ok());
    inst = created.value();
  }
  outrigger_status exportRecord(const outrigger_record_view* view) {
    return inst->exporter()->export_record(inst->handle(), view);
  }
  std::vector<rapidjson::Document> lines() {
    std::ifstream in(path);
    std::vector<rapidjson::Document> out;
    for (std::string line; std::getline(in, line);) {
      out.emplace_back();
      out.back().Parse(line.c_str());
      REQUIRE_FALSE(out.back().HasParseError());
    }
    return out;
  }
};

// A request whose guardrail rewrote the prompt and whose provider answered, with its trace done.
telemetry::RequestRecord tracedRecord(config::Capture capture) {
  telemetry::RequestRecord r;
  r.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  r.route_name = "default";
  r.start_unix_ns = 1700000000000000000;
  r.duration_ns = 5000000;
  r.root_span_id = "a1a2a3a4a5a6a7a8";
  r.root_parent_span_id = "00f067aa0ba902b7";
  telemetry::SpanRecord guard{"guardrail.request", "redact", 100, 1000, "rewrite"};
  guard.span_id = "b1b2b3b4b5b6b7b8";
  guard.parent_span_id = r.root_span_id;
  guard.start_unix_ns = r.start_unix_ns + 10;
  guard.attributes = {{"outrigger.guardrail.verdict", "rewrite"}};
  telemetry::SpanRecord attempt{"provider", "openai", 2000, 3000, "ok"};
  attempt.span_id = "c1c2c3c4c5c6c7c8";
  attempt.parent_span_id = r.root_span_id;
  attempt.start_unix_ns = r.start_unix_ns + 1910;
  attempt.attributes = {{"gen_ai.provider.name", "openai"}, {"gen_ai.usage.input_tokens", "12"}};
  r.spans = {guard, attempt};
  r.capture = capture;
  if (capture != config::Capture::kNone) {
    outrigger_message_view m{{"user", 4}, {"my [P1]", 7}, {nullptr, 0}, {nullptr, 0}, nullptr, 0};
    r.prompt = std::make_shared<chain::OwnedMessages>(std::initializer_list<chain::OwnedMessages::List>{{&m, 1}});
    if (capture == config::Capture::kFull) r.answer = "the answer";
  }
  return r;
}

}  // namespace

TEST_CASE("jsonl: a record line carries span ids, parents, wall-clock starts, attributes and the captured content") {
  Jsonl log;
  telemetry::RequestRecord r = tracedRecord(config::Capture::kFull);
  telemetry::RecordView view(r);
  REQUIRE(log.exportRecord(view.get()) == OUTRIGGER_OK);
  auto lines = log.lines();
  REQUIRE(lines.size() == 1);
  const auto& d = lines[0];
  CHECK(std::string(d["type"].GetString()) == "request");
  CHECK(std::string(d["root_span_id"].GetString()) == "a1a2a3a4a5a6a7a8");
  CHECK(std::string(d["parent_span_id"].GetString()) == "00f067aa0ba902b7");
  const auto& spans = d["spans"];
  REQUIRE(spans.Size() == 2);
  CHECK(std::string(spans[0]["span_id"].GetString()) == "b1b2b3b4b5b6b7b8");
  CHECK(std::string(spans[0]["parent_span_id"].GetString()) == "a1a2a3a4a5a6a7a8");
  CHECK(spans[0]["start_unix_ns"].GetUint64() == 1700000000000000010u);
  CHECK(std::string(spans[0]["attributes"]["outrigger.guardrail.verdict"].GetString()) == "rewrite");
  CHECK(std::string(spans[1]["span_id"].GetString()) == "c1c2c3c4c5c6c7c8");
  CHECK(spans[1]["start_unix_ns"].GetUint64() == 1700000000000001910u);
  CHECK(std::string(spans[1]["attributes"]["gen_ai.usage.input_tokens"].GetString()) == "12");
  CHECK(std::string(d["capture"].GetString()) == "full");
  REQUIRE(d["prompt"].Size() == 1);
  CHECK(std::string(d["prompt"][0]["role"].GetString()) == "user");
  CHECK(std::string(d["prompt"][0]["content"].GetString()) == "my [P1]");
  CHECK(std::string(d["answer"].GetString()) == "the answer");
}

TEST_CASE("jsonl: capture none writes no prompt and no answer, metadata the roles without text") {
  Jsonl log;
  telemetry::RequestRecord none = tracedRecord(config::Capture::kNone);
  telemetry::RecordView none_view(none);
  REQUIRE(log.exportRecord(none_view.get()) == OUTRIGGER_OK);
  telemetry::RequestRecord shape = tracedRecord(config::Capture::kMetadata);
  telemetry::RecordView shape_view(shape);
  REQUIRE(log.exportRecord(shape_view.get()) == OUTRIGGER_OK);
  auto lines = log.lines();
  REQUIRE(lines.size() == 2);
  CHECK(std::string(lines[0]["capture"].GetString()) == "none");
  CHECK_FALSE(lines[0].HasMember("prompt"));
  CHECK_FALSE(lines[0].HasMember("answer"));
  CHECK(std::string(lines[1]["capture"].GetString()) == "metadata");
  REQUIRE(lines[1]["prompt"].Size() == 1);
  CHECK(std::string(lines[1]["prompt"][0]["role"].GetString()) == "user");
  CHECK_FALSE(lines[1]["prompt"][0].HasMember("content"));
  CHECK_FALSE(lines[1].HasMember("answer"));
}

TEST_CASE("jsonl: a record view from a host without the minor 2 tail is written without traces") {
  Jsonl log;
  telemetry::RequestRecord r = tracedRecord(config::Capture::kFull);
  telemetry::RecordView view(r);
  outrigger_record_view older = *view.get();
  older.hdr.struct_size = OUTRIGGER_SIZE_THROUGH(outrigger_record_view, verdict_count);
  REQUIRE(log.exportRecord(&older) == OUTRIGGER_OK);
  auto lines = log.lines();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["spans"].Size() == 2);
  CHECK_FALSE(lines[0]["spans"][0].HasMember("span_id"));
  CHECK_FALSE(lines[0].HasMember("root_span_id"));
  CHECK_FALSE(lines[0].HasMember("answer"));
}

TEST_CASE("jsonl: feedback is a line of its own type, keyed by the trace id") {
  Jsonl log;
  const auto* hooks = log.inst->exporter();
  REQUIRE(OUTRIGGER_HAS_SLOT(hooks, outrigger_exporter_hooks, export_feedback));
  telemetry::FeedbackRecord f;
  f.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  f.score = 0.75;
  f.comment = "helpful";
  f.metadata.tenant = "acme";
  f.received_unix_ns = 1700000000000000000;
  telemetry::FeedbackView view(f);
  REQUIRE(hooks->export_feedback(log.inst->handle(), view.get()) == OUTRIGGER_OK);
  auto lines = log.lines();
  REQUIRE(lines.size() == 1);
  CHECK(std::string(lines[0]["type"].GetString()) == "feedback");
  CHECK(std::string(lines[0]["trace_id"].GetString()) == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(lines[0]["score"].GetDouble() == 0.75);
  CHECK(std::string(lines[0]["comment"].GetString()) == "helpful");
  CHECK(std::string(lines[0]["metadata"]["tenant"].GetString()) == "acme");
  CHECK(lines[0]["received_unix_ns"].GetUint64() == 1700000000000000000u);
}
