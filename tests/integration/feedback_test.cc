// Feedback through the real daemon: a request, then a Feedback frame naming the trace id its
// answer carried, on a new stream of the same connection; both reach the JSONL exporter, the
// request with its trace and the content its route captures, the feedback as a line of its own.
#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <limits>

#include "outrigger_generated.h"
#include "support/daemon_process.h"

using namespace outrigger;
using namespace outrigger::testing;
using namespace std::chrono_literals;

namespace {

const wire::ResponseEnd* endOf(const AlignedFrame& f) {
  return wire::GetSizePrefixedFrame(f.data())->body_as_ResponseEnd();
}

// Reads frames until the ResponseEnd of `sid`; nullopt when none came.
std::optional<AlignedFrame> readEnd(RawConnection& raw, uint64_t sid) {
  for (int i = 0; i < 16; ++i) {
    auto f = raw.readFrame();
    if (!f) return std::nullopt;
    const auto* frame = wire::GetSizePrefixedFrame(f->data());
    if (frame->stream_id() == sid && frame->body_as_ResponseEnd()) return f;
  }
  return std::nullopt;
}

std::vector<std::string> linesOf(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

TEST_CASE("feedback naming an answer's trace id reaches the JSONL exporter as a feedback line") {
  DaemonProcess d(basicConfig("mode = \"echo\"",
                              "exporters = [\"log\"]\ncapture = \"full\"\n"
                              "[instances.log]\ntype = \"exporter.jsonl\"\n[instances.log.config]\n"
                              "path = \"@DIR@/records.jsonl\"\n"));
  REQUIRE(d.waitReady());
  std::string trace_id;
  {
    RawConnection raw(d.socket());
    REQUIRE(raw.connected());
    REQUIRE(raw.send(helloFrame()));
    REQUIRE(raw.readFrame());
    REQUIRE(raw.send(requestFrame(1, {.messages = {{"user", "rate me"}}})));
    auto end = readEnd(raw, 1);
    REQUIRE(end);
    REQUIRE(endOf(*end)->status() == wire::Status::OK);
    REQUIRE(endOf(*end)->trace_id());
    trace_id = endOf(*end)->trace_id()->str();
    REQUIRE(trace_id.size() == 32);

    REQUIRE(raw.send(feedbackFrame(2, trace_id, 0.5, "useful", "acme")));
    auto ack = readEnd(raw, 2);
    REQUIRE(ack);
    CHECK(endOf(*ack)->status() == wire::Status::OK);

    // The request's own stream is finished: ids only increase, so feedback takes a new one.
    REQUIRE(raw.send(feedbackFrame(1, trace_id, 1.0)));
    auto reused = readEnd(raw, 1);
    REQUIRE(reused);
    CHECK(endOf(*reused)->status() == wire::Status::INVALID_ARGUMENT);

    REQUIRE(raw.send(feedbackFrame(3, "", 1.0)));
    auto untraced = readEnd(raw, 3);
    REQUIRE(untraced);
    CHECK(endOf(*untraced)->status() == wire::Status::INVALID_ARGUMENT);

    REQUIRE(raw.send(feedbackFrame(4, trace_id, 1.0, std::string(20000, 'c'))));  // over 16 KiB
    auto essay = readEnd(raw, 4);
    REQUIRE(essay);
    CHECK(endOf(*essay)->status() == wire::Status::INVALID_ARGUMENT);

    // Scores no JSON answer or store column can hold.
    uint64_t sid = 5;
    for (double score : {std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                         std::numeric_limits<double>::quiet_NaN()}) {
      REQUIRE(raw.send(feedbackFrame(sid, trace_id, score)));
      auto unheld = readEnd(raw, sid++);
      REQUIRE(unheld);
      CHECK(endOf(*unheld)->status() == wire::Status::INVALID_ARGUMENT);
    }
  }
  d.signal(SIGTERM);
  REQUIRE(d.waitExit(10s) == 0);
  auto lines = linesOf(d.dir() + "/records.jsonl");
  REQUIRE(lines.size() == 2);  // the request and one feedback; the refused ones reached no exporter
  const std::string& request = lines[0];
  CHECK(request.find(R"("type":"request")") != std::string::npos);
  CHECK(request.find(R"("trace_id":")" + trace_id + "\"") != std::string::npos);
  CHECK(request.find(R"("root_span_id":")") != std::string::npos);
  CHECK(request.find(R"("gen_ai.provider.name":"mock")") != std::string::npos);
  CHECK(request.find(R"("capture":"full")") != std::string::npos);
  CHECK(request.find(R"("answer":"rate me")") != std::string::npos);
  const std::string& feedback = lines[1];
  CHECK(feedback.find(R"({"type":"feedback","trace_id":")" + trace_id + "\"") == 0);
  CHECK(feedback.find(R"("score":0.5)") != std::string::npos);
  CHECK(feedback.find(R"("comment":"useful")") != std::string::npos);
  CHECK(feedback.find(R"("tenant":"acme")") != std::string::npos);
}
