// exporter.otlp's delivery against a scripted collector and timers fired by hand: which answers
// are retried (and after how long), which reject a batch, partial success, the memory bound,
// the spool taking over while the collector is away and sending first when it is back, in order,
// and the spool's own bound, restart and corruption handling; then several POSTs in flight:
// the slot bound, a failure pausing every send, the spool read ahead and acknowledged oldest
// first, shutdown, and exact counters under random answers. Also what is logged when the
// collector stays away or throttles, or the spool cannot be written; the Retry-After header's
// reading; and a spool cursor that cannot be trusted.
#include <catch2/catch.hpp>

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "delivery.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "spool.h"
#include "support/daemon_process.h"

using namespace outrigger::otlp;

namespace {

// A collector whose answers the test gives, and timers the test fires.
class FakeEnv : public DeliveryEnv {
 public:
  struct Post {
    Signal signal;
    std::string body;
    std::function<void(PostOutcome)> done;
    Encoding encoding;
  };
  struct Timer {
    uint32_t delay_ms;
    std::function<void()> fn;
  };

  bool post(const Batch& batch, std::function<void(PostOutcome)> done) override {
    if (refuse_posts) return false;
    posts.push_back({batch.signal, batch.body, std::move(done), batch.encoding});
    sent.push_back(batch.body);
    return true;
  }
  bool after(uint32_t delay_ms, std::function<void()> fn) override {
    timers.push_back({delay_ms, std::move(fn)});
    return true;
  }
  void log(outrigger_log_level, const std::string& message) override { logs.push_back(message); }

  // Answers the oldest POST in flight.
  void answer(int status, uint32_t retry_after_ms = 0, std::string body = "{}") { answerAt(0, status, retry_after_ms, std::move(body)); }
  // Answers the POST in flight whose body is `sent_body`.
  void answerBody(const std::string& sent_body, int status, uint32_t retry_after_ms = 0) {
    auto it = std::find_if(posts.begin(), posts.end(), [&](const Post& p) { return p.body == sent_body; });
    REQUIRE(it != posts.end());
    answerAt(static_cast<size_t>(it - posts.begin()), status, retry_after_ms);
  }
  void answerAt(size_t index, int status, uint32_t retry_after_ms = 0, std::string body = "{}") {
    PostOutcome o;
    o.answered = true;
    o.status = status;
    o.retry_after_ms = retry_after_ms;
    o.body = std::move(body);
    respond(index, o);
  }
  void refuseConnection(size_t index = 0) {
    PostOutcome o;
    o.error = "connect failed";
    respond(index, o);
  }
  void respond(size_t index, const PostOutcome& o) {
    REQUIRE(index < posts.size());
    Post p = std::move(posts[index]);
    posts.erase(posts.begin() + static_cast<std::ptrdiff_t>(index));
    if (o.answered && o.status == 200) exported_bodies.push_back(p.body);
    p.done(o);
  }
  std::vector<std::string> bodies() const {
    std::vector<std::string> out;
    for (const Post& p : posts) out.push_back(p.body);
    return out;
  }
  // Fires the oldest pending timer; its delay.
  uint32_t fire() {
    REQUIRE_FALSE(timers.empty());
    Timer t = std::move(timers.front());
    timers.erase(timers.begin());
    t.fn();
    return t.delay_ms;
  }

  bool refuse_posts = false;
  std::vector<Post> posts;
  std::vector<Timer> timers;
  std::vector<std::string> sent;  // every body ever posted, in order
  std::vector<std::string> logs;
  std::vector<std::string> exported_bodies;  // bodies answered 200, in answer order
};

Batch traces(const std::string& body, uint32_t spans) { return Batch{Signal::kTraces, spans, body, Encoding::kJson}; }

// One POST at a time unless a test asks for more: the tests written for that case keep its order.
DeliverySettings settings(uint64_t max_queue_spans = 1000, uint32_t max_in_flight = 1) {
  DeliverySettings s;
  s.max_queue_spans = max_queue_spans;
  s.max_in_flight = max_in_flight;
  s.initial_backoff_ms = 100;
  s.max_backoff_ms = 1000;
  s.seed = 7;
  return s;
}

std::unique_ptr<Spool> openSpool(const std::string& dir, uint64_t max_bytes = 1 << 20) {
  Spool::OpenError e;
  std::string detail;
  auto s = Spool::open(dir, max_bytes, &e, &detail);
  INFO(detail);
  REQUIRE(s);
  return s;
}

size_t logsWith(const FakeEnv& env, const std::string& text) {
  return static_cast<size_t>(std::count_if(env.logs.begin(), env.logs.end(),
                                           [&](const std::string& l) { return l.find(text) != std::string::npos; }));
}

void writeFile(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << bytes;
}

// A cursor as the spool writes it: sequence, offset, magic, CRC-32 of those 20 bytes.
std::string cursorBytes(uint64_t seq, uint64_t offset) {
  std::string c(24, '\0');
  auto put = [&](size_t at, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) c[at + i] = static_cast<char>(v >> (8 * i));
  };
  put(0, seq, 8);
  put(8, offset, 8);
  put(16, 0x4353544f, 4);
  put(20, crc32(0L, reinterpret_cast<const Bytef*>(c.data()), 20), 4);
  return c;
}

std::vector<std::string> drain(Spool& s) {
  std::vector<std::string> out;
  Spool::Entry e;
  while (s.next(&e)) {
    out.push_back(e.body);
    s.pop();
  }
  return out;
}

}  // namespace

TEST_CASE("delivery: with max_in_flight 1, one POST at a time, in order, and a 200 exports the batch") {
  FakeEnv env;
  Delivery d(settings(), &env);
  d.submit(traces("a", 3));
  d.submit(traces("b", 4));
  REQUIRE(env.posts.size() == 1);
  CHECK(env.posts[0].body == "a");
  env.answer(200);
  REQUIRE(env.posts.size() == 1);
  CHECK(env.posts[0].body == "b");
  env.answer(200);
  CHECK(d.counters().spans.exported == 7);
  CHECK(d.queuedSpans() == 0);
  CHECK(env.timers.empty());
}

TEST_CASE("delivery: 429, 502, 503, 504 and no connection are retried after a growing backoff, Retry-After honoured") {
  for (int status : {429, 502, 503, 504, 0}) {
    FakeEnv env;
    Delivery d(settings(), &env);
    d.submit(traces("a", 2));
    if (status) env.answer(status);
    else env.refuseConnection();
    CHECK(env.posts.empty());
    REQUIRE(env.timers.size() == 1);
    uint32_t first = env.fire();
    CHECK(first >= 50);
    CHECK(first <= 100);
    REQUIRE(env.posts.size() == 1);
    CHECK(env.posts[0].body == "a");
    env.answer(503);
    uint32_t second = env.fire();
    CHECK(second >= 100);
    CHECK(second <= 200);
    env.answer(429, 2500);  // Retry-After: 2.5 s, longer than max_backoff_ms: honoured
    CHECK(env.fire() == 2500);
    env.answer(200);
    CHECK(d.counters().spans.exported == 2);
    CHECK(d.counters().retries == 3);
    CHECK(d.counters().spans.rejected == 0);
  }
}

TEST_CASE("delivery: the backoff is capped by max_backoff_ms") {
  FakeEnv env;
  Delivery d(settings(), &env);
  for (uint32_t attempt = 1; attempt < 40; ++attempt) {
    uint32_t ms = d.backoffMs(attempt);
    CHECK(ms <= 1000);
    CHECK(ms >= std::min<uint32_t>(1000, 100u << std::min<uint32_t>(attempt - 1, 20)) / 2);
  }
}

TEST_CASE("delivery: other statuses reject the batch once, counted and logged, and the next one goes") {
  for (int status : {400, 401, 404, 413, 500}) {
    FakeEnv env;
    Delivery d(settings(), &env);
    d.submit(traces("bad", 5));
    d.submit(traces("good", 1));
    env.answer(status);
    CHECK(env.timers.empty());
    REQUIRE(env.posts.size() == 1);
    CHECK(env.posts[0].body == "good");
    env.answer(200);
    CHECK(d.counters().spans.rejected == 5);
    CHECK(d.counters().rejected_batches == 1);
    CHECK(d.counters().spans.exported == 1);
    CHECK(std::count(env.sent.begin(), env.sent.end(), "bad") == 1);
    REQUIRE_FALSE(env.logs.empty());
    CHECK(env.logs.back().find("HTTP " + std::to_string(status)) != std::string::npos);
  }
}

TEST_CASE("delivery: a partial success counts the collector's rejected spans and logs its message") {
  FakeEnv env;
  Delivery d(settings(), &env);
  d.submit(traces("a", 10));
  env.answer(200, 0, R"({"partialSuccess":{"rejectedSpans":"3","errorMessage":"span too large"}})");
  CHECK(d.counters().spans.exported == 7);
  CHECK(d.counters().spans.rejected == 3);
  REQUIRE(env.logs.size() == 1);
  CHECK(env.logs[0].find("span too large") != std::string::npos);
}

TEST_CASE("delivery: a protobuf batch's answers are read as protobuf: its partial success, and an error's google.rpc.Status message") {
  FakeEnv env;
  Delivery d(settings(), &env);
  d.submit(Batch{Signal::kTraces, 10, "spans", Encoding::kProtobuf});
  opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse partial;
  partial.mutable_partial_success()->set_rejected_spans(4);
  partial.mutable_partial_success()->set_error_message("span too old\r\n");
  env.answer(200, 0, partial.SerializeAsString());
  CHECK(d.counters().spans.exported == 6);
  CHECK(d.counters().spans.rejected == 4);
  REQUIRE(env.logs.size() == 1);
  CHECK(env.logs[0].find("span too old\\x0d\\x0a") != std::string::npos);

  // google/rpc/status.proto: code (1) and message (2); the log quotes the message, not the bytes.
  std::string status;
  status += '\x08';
  status += '\x03';  // INVALID_ARGUMENT
  std::string text = "resource attributes\nmissing";
  status += '\x12';
  status += static_cast<char>(text.size());
  status += text;
  d.submit(Batch{Signal::kTraces, 5, "more", Encoding::kProtobuf});
  env.answer(400, 0, status);
  CHECK(d.counters().spans.rejected == 9);
  REQUIRE(env.logs.size() == 2);
  CHECK(env.logs[1].find("HTTP 400: resource attributes\\x0amissing") != std::string::npos);  // escaped
  // A body that is no Status (a proxy's page) is quoted with its control bytes escaped.
  d.submit(Batch{Signal::kTraces, 1, "last", Encoding::kProtobuf});
  env.answer(500, 0, std::string("<html>\x01\n"));
  REQUIRE(env.logs.size() == 3);
  CHECK(env.logs[2].find("HTTP 500: <html>\\x01\\x0a") != std::string::npos);
}

TEST_CASE("delivery: without a spool the memory bound drops the newest batches, counted, and never waits") {
  FakeEnv env;
  Delivery d(settings(10), &env);
  d.submit(traces("a", 4));
  env.refuseConnection();  // the collector is down: "a" stays at the head
  d.submit(traces("b", 4));
  d.submit(traces("c", 4));  // 12 > 10: dropped
  CHECK(d.counters().spans.dropped == 4);
  CHECK(d.queuedSpans() == 8);
  env.fire();
  env.answer(200);
  env.answer(200);
  CHECK(d.counters().spans.exported == 8);
  CHECK(env.sent == std::vector<std::string>{"a", "a", "b"});
}

TEST_CASE("delivery: while the collector is away batches go to the spool, and are sent first and in order when it is back") {
  std::string dir = outrigger::testing::makeTempDir() + "/spool";
  FakeEnv env;
  Delivery d(settings(), &env);
  d.attachSpool(openSpool(dir));
  d.submit(traces("a", 1));
  d.submit(traces("b", 2));  // queued in memory behind "a"
  env.refuseConnection();    // both move to disk
  CHECK(d.queuedSpans() == 0);
  CHECK(d.spool()->items() == 3);
  d.submit(traces("c", 3));  // the collector is still away: appended to the spool
  CHECK(d.spool()->items() == 6);
  CHECK(d.counters().spans.spooled == 6);
  env.fire();
  env.answer(503);
  env.fire();
  env.answer(200);
  env.answer(200);
  d.submit(traces("d", 1));  // still behind "c" on disk
  env.answer(200);
  env.answer(200);
  CHECK(env.sent == std::vector<std::string>{"a", "a", "a", "b", "c", "d"});
  CHECK(d.counters().spans.exported == 7);
  CHECK(d.spool()->empty());
  d.submit(traces("e", 1));  // drained: back to memory
  CHECK(d.spool()->empty());
  env.answer(200);
  CHECK(d.counters().spans.exported == 8);
}

TEST_CASE("delivery: behind a slow collector a full memory queue moves to the spool, in order, the batch in flight staying") {
  std::string dir = outrigger::testing::makeTempDir() + "/spool";
  FakeEnv env;
  Delivery d(settings(10), &env);
  d.attachSpool(openSpool(dir));
  d.submit(traces("a", 4));  // in flight, no answer yet
  d.submit(traces("b", 4));
  d.submit(traces("c", 4));  // 12 > 10: "b" and "c" go to disk
  CHECK(d.counters().spans.dropped == 0);
  CHECK(d.counters().spans.spooled == 8);
  CHECK(d.queuedSpans() == 4);
  d.submit(traces("d", 1));  // behind them on disk
  env.answer(200);
  env.answer(200);
  env.answer(200);
  env.answer(200);
  CHECK(env.sent == std::vector<std::string>{"a", "b", "c", "d"});
  CHECK(d.counters().spans.exported == 13);
  CHECK(d.spool()->empty());
}

TEST_CASE("delivery: a full spool drops the newest batches, counted, and what it holds is still delivered") {
  std::string dir = outrigger::testing::makeTempDir() + "/spool";
  FakeEnv env;
  Delivery d(settings(), &env);
  d.attachSpool(openSpool(dir, 4096));
  std::string big(1500, 'x');
  d.submit(traces(big + "1", 10));
  env.refuseConnection();
  d.submit(traces(big + "2", 10));
  d.submit(traces(big + "3", 10));  // 3 x ~1.5 KB > 4 KB
  d.submit(traces(big + "4", 10));
  CHECK(d.counters().spans.spooled == 20);
  CHECK(d.counters().spans.dropped == 20);
  env.fire();
  env.answer(200);
  env.answer(200);
  CHECK(d.counters().spans.exported == 20);
  CHECK(env.sent.back() == big + "2");
}

TEST_CASE("delivery: at shutdown what waits in memory goes to the spool, and the next start sends it first") {
  std::string dir = outrigger::testing::makeTempDir() + "/spool";
  {
    FakeEnv env;
    Delivery d(settings(), &env);
    d.attachSpool(openSpool(dir));
    d.submit(traces("a", 1));
    d.submit(traces("b", 1));  // "a" in flight, "b" waiting
    d.persist();
    CHECK(d.spool()->items() == 2);
  }
  FakeEnv env;
  Delivery d(settings(), &env);
  d.attachSpool(openSpool(dir));
  REQUIRE(env.posts.size() == 1);
  CHECK(env.posts[0].body == "a");
  d.submit(traces("c", 1));
  env.answer(200);
  env.answer(200);
  env.answer(200);
  CHECK(env.sent == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("delivery: metrics keep only the newest unsent push, and a failed push is counted, not retried") {
  FakeEnv env;
  Delivery d(settings(), &env);
  d.submit(traces("t", 1));
  d.submit(Batch{Signal::kMetrics, 0, "m1"});
  d.submit(Batch{Signal::kMetrics, 0, "m2"});
  env.answer(200);
  REQUIRE(env.posts.size() == 1);
  CHECK(env.posts[0].body == "m2");
  CHECK(env.posts[0].signal == Signal::kMetrics);
  env.answer(503);
  CHECK(d.counters().metrics_failed == 1);
  env.fire();
  CHECK(env.posts.empty());
}

TEST_CASE("delivery: a POST that cannot start backs off and goes when nudged") {
  FakeEnv env;
  Delivery d(settings(), &env);
  env.refuse_posts = true;
  d.submit(traces("a", 1));
  REQUIRE(env.timers.size() == 1);
  env.refuse_posts = false;
  env.fire();
  REQUIRE(env.posts.size() == 1);
  env.answer(200);
  CHECK(d.counters().spans.exported == 1);
}

TEST_CASE("delivery: up to max_in_flight POSTs at once, each answer starting the next, and spans in flight count against the memory bound") {
  FakeEnv env;
  Delivery d(settings(10, 3), &env);
  for (const char* b : {"a", "b", "c", "d", "e"}) d.submit(traces(b, 2));
  CHECK(env.bodies() == std::vector<std::string>{"a", "b", "c"});
  CHECK(d.inFlight() == 3);
  CHECK(d.queuedSpans() == 10);  // 3 batches in flight, 2 queued
  d.submit(traces("f", 1));      // 11 > 10: dropped, though only 4 spans wait to be sent
  CHECK(d.counters().spans.dropped == 1);
  env.answerBody("c", 200);  // answers may come in any order
  CHECK(env.bodies() == std::vector<std::string>{"a", "b", "d"});
  env.answerBody("a", 200);
  env.answerBody("b", 200);
  CHECK(env.bodies() == std::vector<std::string>{"d", "e"});
  env.answer(200);
  env.answer(200);
  CHECK(d.counters().spans.exported == 10);
  CHECK(d.counters().most_in_flight == 3);
  CHECK(d.queuedSpans() == 0);
  CHECK(d.idle());
}

TEST_CASE("delivery: a retryable failure pauses every send until its backoff ends, one timer, and a Retry-After has the last word") {
  FakeEnv env;
  Delivery d(settings(1000, 4), &env);
  for (const char* b : {"a", "b", "c", "d", "e", "f"}) d.submit(traces(b, 1));
  env.answerBody("b", 503);  // "b" goes back to the head of the queue
  REQUIRE(env.timers.size() == 1);
  env.answerBody("a", 200);  // a slot is free, but the pause holds
  CHECK(env.bodies() == std::vector<std::string>{"c", "d"});
  env.answerBody("c", 429, 3000);  // throttled: its Retry-After replaces the running backoff
  REQUIRE(env.timers.size() == 2);
  env.answerBody("d", 503);  // within the pause: no new timer
  CHECK(env.timers.size() == 2);
  CHECK(env.posts.empty());
  env.fire();  // the replaced backoff: nothing starts
  CHECK(env.posts.empty());
  CHECK(env.fire() == 3000);
  CHECK(env.bodies() == std::vector<std::string>{"b", "c", "d", "e"});  // the failed ones first, in their order
  while (!env.posts.empty()) env.answer(200);
  CHECK(env.exported_bodies == std::vector<std::string>{"a", "b", "c", "d", "e", "f"});
  CHECK(d.counters().spans.exported == 6);
  CHECK(d.counters().retries == 3);
  CHECK(env.logs.size() == 2);  // the outage and the throttling, not each failed POST
}

TEST_CASE("delivery: the spool is read ahead by the POSTs in flight and acknowledged oldest first, so a restart resends only what was not") {
  std::string dir = outrigger::testing::makeTempDir() + "/spool";
  {
    FakeEnv env;
    Delivery d(settings(1000, 3), &env);
    d.attachSpool(openSpool(dir));
    d.submit(traces("a", 1));
    env.refuseConnection();  // the collector is away: "a" and what follows go to disk
    for (const char* b : {"b", "c", "d", "e"}) d.submit(traces(b, 1));
    CHECK(d.spool()->items() == 5);
    env.fire();
    CHECK(env.bodies() == std::vector<std::string>{"a", "b", "c"});
    env.answerBody("c", 200);
    env.answerBody("b", 200);
    CHECK(env.bodies() == std::vector<std::string>{"a", "d", "e"});
    CHECK(d.spool()->items() == 5);  // "b" and "c" wait for "a" to be acknowledged
    env.answerBody("a", 200);
    CHECK(d.spool()->items() == 2);
    CHECK(d.counters().spans.exported == 3);
    // The daemon dies with "d" and "e" in flight.
  }
  FakeEnv env;
  Delivery d(settings(1000, 3), &env);
  d.attachSpool(openSpool(dir));
  CHECK(env.bodies() == std::vector<std::string>{"d", "e"});
  env.answer(200);
  env.answer(200);
  CHECK(d.spool()->empty());
  CHECK(d.counters().spans.exported == 2);
}

TEST_CASE("delivery: a spooled batch whose POST failed is sent again before the spool is read further") {
  std::string dir = outrigger::testing::makeTempDir() + "/spool";
  FakeEnv env;
  Delivery d(settings(1000, 2), &env);
  d.attachSpool(openSpool(dir));
  d.submit(traces("a", 1));
  env.refuseConnection();
  for (const char* b : {"b", "c", "d"}) d.submit(traces(b, 1));
  env.fire();
  env.answerBody("b", 503);
  env.answerBody("a", 200);
  CHECK(env.posts.empty());  // paused
  env.fire();
  CHECK(env.bodies() == std::vector<std::string>{"b", "c"});
  env.answer(200);
  env.answer(200);
  env.answer(200);
  CHECK(env.sent == std::vector<std::string>{"a", "a", "b", "b", "c", "d"});
  CHECK(d.counters().spans.exported == 4);
  CHECK(d.spool()->empty());
}

TEST_CASE("delivery: at shutdown the batches in flight go to the spool before those queued, and a late answer counts nothing") {
  std::string dir = outrigger::testing::makeTempDir() + "/spool";
  {
    FakeEnv env;
    Delivery d(settings(1000, 2), &env);
    d.attachSpool(openSpool(dir));
    for (const char* b : {"a", "b", "c"}) d.submit(traces(b, 1));
    CHECK(env.bodies() == std::vector<std::string>{"a", "b"});
    d.persist();
    CHECK(d.spool()->items() == 3);
    CHECK(d.queuedSpans() == 0);
    env.answerBody("b", 200);
    CHECK(d.counters().spans.exported == 0);
  }
  FakeEnv env;
  Delivery d(settings(1000, 2), &env);
  d.attachSpool(openSpool(dir));
  while (!env.posts.empty()) env.answer(200);
  CHECK(env.sent == std::vector<std::string>{"a", "b", "c"});
  CHECK(d.counters().spans.exported == 3);
}

TEST_CASE("delivery: feedback log batches are counted apart from spans and keep their signal and encoding through the spool") {
  std::string dir = outrigger::testing::makeTempDir() + "/spool";
  FakeEnv env;
  Delivery d(settings(1000, 4), &env);
  d.attachSpool(openSpool(dir));
  d.submit(Batch{Signal::kLogs, 2, "feedback", Encoding::kProtobuf});
  d.submit(traces("spans", 3));  // JSON
  env.refuseConnection(0);
  env.refuseConnection(0);
  CHECK(d.counters().logs.spooled == 2);
  CHECK(d.counters().spans.spooled == 3);
  env.fire();
  REQUIRE(env.posts.size() == 2);
  CHECK(env.posts[0].signal == Signal::kLogs);
  CHECK(env.posts[0].encoding == Encoding::kProtobuf);  // its Content-Type, as it was sent first
  CHECK(env.posts[1].signal == Signal::kTraces);
  CHECK(env.posts[1].encoding == Encoding::kJson);
  env.answer(200);
  env.answer(400);
  CHECK(d.counters().logs.exported == 2);
  CHECK(d.counters().spans.rejected == 3);
  CHECK(d.counters().spans.exported == 0);
  CHECK(d.counters().logs.rejected == 0);
}

TEST_CASE("delivery: under random answers every span ends exported, rejected or dropped exactly once, none sent twice after a 200") {
  for (bool with_spool : {false, true}) {
    std::string dir = outrigger::testing::makeTempDir() + "/spool";
    std::mt19937 rng(with_spool ? 11 : 7);
    FakeEnv env;
    Delivery d(settings(40, 4), &env);
    if (with_spool) d.attachSpool(openSpool(dir, 16 * 1024));
    uint64_t submitted = 0;
    for (int i = 0; i < 3000; ++i) {
      uint32_t pick = rng() % 10;
      if (pick < 4) {
        uint32_t spans = 1 + rng() % 6;
        d.submit(traces("batch-" + std::to_string(i), spans));
        submitted += spans;
      } else if (!env.posts.empty()) {
        size_t at = rng() % env.posts.size();
        switch (pick) {
          case 4: env.refuseConnection(at); break;
          case 5: env.answerAt(at, 503); break;
          case 6: env.answerAt(at, 429, 1 + rng() % 500); break;
          case 7: env.answerAt(at, 400); break;
          default: env.answerAt(at, 200); break;
        }
      } else if (!env.timers.empty()) {
        env.fire();
      }
      REQUIRE(env.posts.size() <= 4);
    }
    for (int i = 0; i < 100000 && (!env.posts.empty() || !env.timers.empty()); ++i) {
      if (!env.posts.empty()) env.answer(200);
      else env.fire();
    }
    const ItemCounters& c = d.counters().spans;
    INFO("spool " << with_spool << ": exported " << c.exported << ", rejected " << c.rejected << ", dropped " << c.dropped);
    CHECK(c.exported + c.rejected + c.dropped == submitted);
    CHECK(d.queuedSpans() == 0);
    if (with_spool) CHECK(d.spool()->empty());
    std::vector<std::string> once = env.exported_bodies;
    std::sort(once.begin(), once.end());
    CHECK(std::adjacent_find(once.begin(), once.end()) == once.end());
    CHECK(d.counters().most_in_flight == 4);
    CHECK(c.exported > 0);
  }
}

TEST_CASE("spool: batches come back in order after a reopen, acknowledged ones do not") {
  std::string dir = outrigger::testing::makeTempDir() + "/spool";
  {
    auto s = openSpool(dir, 1 << 20);
    for (int i = 0; i < 50; ++i) {
      REQUIRE(s->append({1, 2, "batch-" + std::to_string(i), static_cast<uint8_t>(i % 2)}) == Spool::Append::kOk);
    }
    Spool::Entry e;
    for (int i = 0; i < 20; ++i) {
      REQUIRE(s->next(&e));
      CHECK(e.body == "batch-" + std::to_string(i));
      s->pop();
    }
    CHECK(s->entries() == 30);
    CHECK(s->items() == 60);
  }
  auto s = openSpool(dir, 1 << 20);
  CHECK(s->entries() == 30);
  Spool::Entry e;
  for (int i = 20; i < 50; ++i) {
    REQUIRE(s->next(&e));
    CHECK(e.body == "batch-" + std::to_string(i));
    CHECK(e.items == 2);
    CHECK(e.signal == 1);
    CHECK(e.encoding == i % 2);
    s->pop();
  }
  CHECK(s->empty());
  CHECK(s->bytes() == 0);
  CHECK_FALSE(s->next(&e));
}

TEST_CASE("spool: a batch past max_bytes is refused and the older ones are kept") {
  std::string dir = outrigger::testing::makeTempDir() + "/spool";
  auto s = openSpool(dir, 4096);
  int accepted = 0;
  for (int i = 0; i < 10; ++i) accepted += s->append({1, 1, std::string(1100, 'a' + i)}) == Spool::Append::kOk;
  CHECK(accepted == 3);  // 3 x (1100 + a 24-byte header) fit in 4096, 4 do not
  CHECK(s->bytes() <= 4096);
  Spool::Entry e;
  REQUIRE(s->next(&e));
  CHECK(e.body == std::string(1100, 'a'));
  s->pop();
  REQUIRE(s->next(&e));
  CHECK(e.body == std::string(1100, 'b'));
}

TEST_CASE("spool: a second open of the same directory is busy until the first is closed") {
  std::string dir = outrigger::testing::makeTempDir() + "/spool";
  auto first = openSpool(dir);
  Spool::OpenError e;
  std::string detail;
  CHECK_FALSE(Spool::open(dir, 1 << 20, &e, &detail));
  CHECK(e == Spool::OpenError::kBusy);
  first.reset();
  CHECK(Spool::open(dir, 1 << 20, &e, &detail));
}

TEST_CASE("spool: a torn tail is cut off at open and a batch that fails its CRC is skipped alone and counted") {
  std::string dir = outrigger::testing::makeTempDir() + "/spool";
  {
    auto s = openSpool(dir);
    REQUIRE(s->append({1, 1, "first"}) == Spool::Append::kOk);
    REQUIRE(s->append({1, 1, "second"}) == Spool::Append::kOk);
  }
  std::string seg = dir + "/00000000000000000001.seg";
  {
    std::ofstream torn(seg, std::ios::app | std::ios::binary);
    torn << "OTSP-half-a-header";
  }
  {
    auto s = openSpool(dir);
    CHECK(s->entries() == 2);
    CHECK(s->corrupt() == 1);
    Spool::Entry e;
    REQUIRE(s->next(&e));
    CHECK(e.body == "first");
  }
  {
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(24 + 1);  // a byte inside the first body
    f.put('X');
  }
  auto s = openSpool(dir);
  Spool::Entry e;
  REQUIRE(s->next(&e));  // the first fails its CRC: its header is sound, so only it is skipped
  CHECK(e.body == "second");
  CHECK(s->corrupt() == 1);
  s->pop();
  CHECK(s->empty());
  CHECK(s->items() == 0);
}

TEST_CASE("spool: a damaged batch in a later segment is skipped once, and what is spooled after it is sent") {
  std::string dir = outrigger::testing::makeTempDir() + "/spool";
  {
    auto s = openSpool(dir, 32768);  // segments of 4096 bytes: "b" starts the second
    REQUIRE(s->append({1, 2, std::string(3000, 'a')}) == Spool::Append::kOk);
    REQUIRE(s->append({1, 3, std::string(3000, 'b')}) == Spool::Append::kOk);
    REQUIRE(s->append({1, 4, "c"}) == Spool::Append::kOk);
  }
  {
    std::fstream f(dir + "/00000000000000000002.seg", std::ios::in | std::ios::out | std::ios::binary);
    REQUIRE(f);
    f.seekp(24 + 1);
    f.put('X');
  }
  SECTION("read with nothing out") {
    auto s = openSpool(dir, 32768);
    CHECK(s->items() == 9);
    Spool::Entry e;
    REQUIRE(s->next(&e));
    CHECK(e.body == std::string(3000, 'a'));
    s->pop();
    REQUIRE(s->next(&e));
    CHECK(e.body == "c");
    CHECK(s->corrupt() == 1);
    s->pop();
    CHECK(s->empty());
    CHECK(s->items() == 0);
    // The skipped batch is behind the cursor now: a new one is the next read, and the only one.
    REQUIRE(s->append({1, 5, "d"}) == Spool::Append::kOk);
    REQUIRE(s->next(&e));
    CHECK(e.body == "d");
    CHECK(s->corrupt() == 1);
    s->pop();
    CHECK(s->empty());
  }
  SECTION("everything skipped, with nothing out, then a new batch") {
    {
      auto s = openSpool(dir, 32768);
      Spool::Entry e;
      REQUIRE(s->next(&e));
      s->pop();
      REQUIRE(s->next(&e));
      s->pop();
      CHECK_FALSE(s->next(&e));
      REQUIRE(s->append({1, 5, "d"}) == Spool::Append::kOk);
      REQUIRE(s->next(&e));
      CHECK(e.body == "d");
      CHECK(e.items == 5);
    }
    // "d" was never acknowledged: it is sent again after a restart, and nothing else is.
    auto s = openSpool(dir, 32768);
    Spool::Entry e;
    REQUIRE(s->next(&e));
    CHECK(e.body == "d");
    s->pop();
    CHECK_FALSE(s->next(&e));
    CHECK(s->corrupt() == 0);
  }
  SECTION("read ahead past it while the first is out") {
    auto s = openSpool(dir, 32768);
    Spool::Entry first, second, e;
    REQUIRE(s->next(&first));
    REQUIRE(s->next(&second));
    CHECK(second.body == "c");
    CHECK(s->corrupt() == 1);
    REQUIRE(s->append({1, 5, "d"}) == Spool::Append::kOk);  // appended while two are out
    REQUIRE(s->next(&e));
    CHECK(e.body == "d");
    s->pop();
    s->pop();
    s->pop();
    CHECK(s->empty());
    CHECK(s->items() == 0);
    CHECK_FALSE(s->next(&e));
    CHECK(s->corrupt() == 1);
  }
}

TEST_CASE("spool: a batch in an encoding this build does not know is skipped alone, counted once, and its neighbours sent") {
  std::string dir = outrigger::testing::makeTempDir() + "/spool";
  {
    auto s = openSpool(dir);
    REQUIRE(s->append({1, 3, "before", 1}) == Spool::Append::kOk);
    REQUIRE(s->append({1, 5, "from a newer build", 2}) == Spool::Append::kOk);  // no encoding 2 yet
    REQUIRE(s->append({1, 7, "after", 0}) == Spool::Append::kOk);
  }
  SECTION("read with nothing out") {
    auto s = openSpool(dir);
    Spool::Entry e;
    REQUIRE(s->next(&e));
    CHECK(e.body == "before");
    s->pop();
    REQUIRE(s->next(&e));
    CHECK(e.body == "after");
    CHECK(e.items == 7);
    CHECK(s->corrupt() == 1);
    CHECK(s->items() == 7);
    s->pop();
    CHECK(s->empty());
    CHECK_FALSE(s->next(&e));
    CHECK(s->corrupt() == 1);
  }
  SECTION("read ahead past it, then everything acknowledged and the spool reopened") {
    {
      auto s = openSpool(dir);
      Spool::Entry first, second;
      REQUIRE(s->next(&first));
      REQUIRE(s->next(&second));  // the unknown one skipped on the way
      CHECK(first.body == "before");
      CHECK(second.body == "after");
      CHECK(s->corrupt() == 1);
      s->pop();
      Spool::Entry e;
      CHECK_FALSE(s->next(&e));  // "after" is still out: nothing is read twice
      CHECK(s->corrupt() == 1);
      s->pop();
      CHECK(s->empty());
      CHECK(s->corrupt() == 1);
    }
    auto s = openSpool(dir);
    Spool::Entry e;
    CHECK_FALSE(s->next(&e));
    CHECK(s->corrupt() == 0);
  }
}

TEST_CASE("delivery: the memory queue is bounded in bytes too: past max_queue_bytes a batch is dropped and counted, or spooled") {
  DeliverySettings s = settings(1000, 1);
  s.max_queue_bytes = 1000;
  SECTION("without a spool") {
    FakeEnv env;
    Delivery d(s, &env);
    d.submit(traces(std::string(600, 'a'), 1));  // in flight: still counts
    d.submit(traces(std::string(600, 'b'), 2));  // 1200 bytes > 1000: dropped, though 3 spans fit
    CHECK(d.counters().spans.dropped == 2);
    d.submit(traces(std::string(300, 'c'), 1));
    CHECK(d.queuedBytes() == 900);
    CHECK(d.queuedSpans() == 2);
    env.answer(200);
    env.answer(200);
    CHECK(d.counters().spans.exported == 2);
    CHECK(d.queuedBytes() == 0);
    d.submit(traces(std::string(5000, 'd'), 1));  // larger than the bound, into an empty queue: sent
    REQUIRE(env.posts.size() == 1);
    env.answer(200);
    CHECK(d.counters().spans.exported == 3);
    CHECK(d.counters().spans.dropped == 2);
  }
  SECTION("with a spool") {
    std::string dir = outrigger::testing::makeTempDir() + "/spool";
    FakeEnv env;
    Delivery d(s, &env);
    d.attachSpool(openSpool(dir));
    d.submit(traces(std::string(600, 'a'), 1));
    d.submit(traces(std::string(600, 'b'), 2));  // to disk, in order behind "a"
    CHECK(d.counters().spans.spooled == 2);
    CHECK(d.counters().spans.dropped == 0);
    CHECK(d.queuedBytes() == 600);
    env.answer(200);
    env.answer(200);
    CHECK(d.counters().spans.exported == 3);
    CHECK(d.spool()->empty());
  }
}

TEST_CASE("delivery: at shutdown without a spool what waits, in flight included, is counted dropped") {
  FakeEnv env;
  Delivery d(settings(1000, 1), &env);
  d.submit(traces("a", 2));  // in flight
  d.submit(traces("b", 3));  // waiting
  d.persist();
  CHECK(d.counters().spans.dropped == 5);
  CHECK(d.queuedSpans() == 0);
  CHECK(d.queuedBytes() == 0);
  env.answer(200);  // too late: it was counted already
  CHECK(d.counters().spans.exported == 0);
  CHECK(d.counters().spans.dropped == 5);
}

TEST_CASE("delivery: a throttling collector is logged when the pause starts, then counted, not logged per POST") {
  FakeEnv env;
  Delivery d(settings(1000, 1), &env);
  d.submit(traces("a", 1));
  for (int i = 0; i < 5; ++i) {
    env.answer(429, 1000);
    CHECK(env.fire() == 1000);
  }
  CHECK(env.logs.size() == 1);
  CHECK(logsWith(env, "throttling") == 1);
  CHECK(d.counters().throttled == 5);
  CHECK(d.counters().retries == 5);
  env.answer(200);
  d.submit(traces("b", 1));  // throttled again after a success: news again
  env.answer(429, 1000);
  CHECK(env.logs.size() == 2);
}

TEST_CASE("delivery: a spool that cannot be written logs the first failure with its errno, and counts every one") {
  std::string dir = outrigger::testing::makeTempDir() + "/spool";
  FakeEnv env;
  Delivery d(settings(), &env);
  d.attachSpool(openSpool(dir));
  std::filesystem::remove_all(dir);  // no segment can be created any more
  d.submit(traces("a", 1));
  env.refuseConnection();  // "a" is spooled: it fails
  for (const char* b : {"b", "c", "d"}) d.submit(traces(b, 1));
  CHECK(d.counters().spans.dropped == 4);
  CHECK(d.counters().spool_write_failures == 4);
  CHECK(logsWith(env, "spool write failed") == 1);
  CHECK(logsWith(env, std::strerror(ENOENT)) == 1);
}

TEST_CASE("delivery: Retry-After is read in 64 bits and cut to the cap, never wrapped to a short pause") {
  CHECK(retryAfterMs("2") == 2000);
  CHECK(retryAfterMs("300") == 300000);
  CHECK(retryAfterMs("301") == kMaxRetryAfterMs);
  CHECK(retryAfterMs("4294968") == kMaxRetryAfterMs);  // x 1000 wraps 32 bits to 704 ms
  CHECK(retryAfterMs("99999999999999999999999") == kMaxRetryAfterMs);  // past 64 bits
  CHECK(retryAfterMs("20", 5000) == 5000);
  CHECK(retryAfterMs("") == 0);
  CHECK(retryAfterMs("soon") == 0);
  CHECK(retryAfterMs("Wed, 21 Oct 2015 07:28:00 GMT") == 0);  // a date gone by
  char date[64];
  std::time_t later = std::time(nullptr) + 3600;
  std::tm tm{};
  gmtime_r(&later, &tm);
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  CHECK(retryAfterMs(date) == kMaxRetryAfterMs);  // an hour: past the cap
}

// A spool that holds "a", "b" and "c", "a" acknowledged, closed: its folder.
static std::string spoolWithFirstOfThreeAcknowledged() {
  std::string dir = outrigger::testing::makeTempDir() + "/spool";
  auto s = openSpool(dir);
  for (const char* b : {"a", "b", "c"}) REQUIRE(s->append({1, 1, b}) == Spool::Append::kOk);
  Spool::Entry e;
  REQUIRE(s->next(&e));
  s->pop();
  return dir;
}

TEST_CASE("spool: a damaged cursor is not trusted: every batch is sent again from the oldest, and open says why") {
  std::string dir = spoolWithFirstOfThreeAcknowledged();
  SECTION("garbage") { writeFile(dir + "/cursor", std::string(24, '\xff')); }
  SECTION("a torn write") {
    std::string c = cursorBytes(1, 0);
    c[9] ^= 0x40;  // the offset, changed after its CRC was taken
    writeFile(dir + "/cursor", c);
  }
  SECTION("past the newest segment") { writeFile(dir + "/cursor", cursorBytes(1000, 0)); }
  SECTION("inside a batch") { writeFile(dir + "/cursor", cursorBytes(1, 24 + 1 + 3)); }
  auto s = openSpool(dir);
  CHECK_FALSE(s->openNotice().empty());
  CHECK(drain(*s) == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("spool: a sound cursor, and one an older build wrote without magic or CRC, are followed") {
  std::string dir = spoolWithFirstOfThreeAcknowledged();
  SECTION("as written") {
    // An older build reads the first 16 bytes alone: the sequence and the offset, as it wrote them.
    std::ifstream in(dir + "/cursor", std::ios::binary);
    unsigned char head[16] = {};
    in.read(reinterpret_cast<char*>(head), 16);
    CHECK(head[0] == 1);       // segment 1
    CHECK(head[8] == 24 + 1);  // after "a"
  }
  SECTION("an older build's") {
    std::string old(16, '\0');
    old[0] = 1;           // segment 1
    old[8] = 24 + 1;      // after "a"
    writeFile(dir + "/cursor", old);
  }
  auto s = openSpool(dir);
  CHECK(s->openNotice().empty());
  CHECK(drain(*s) == std::vector<std::string>{"b", "c"});
  s.reset();
  CHECK(std::filesystem::file_size(dir + "/cursor") == 24);  // rewritten in the new format
}

TEST_CASE("spool: a damaged header in an earlier segment is not cut off: the batches around it are sent, its segment's rest skipped once") {
  std::string dir = outrigger::testing::makeTempDir() + "/spool";
  {
    auto s = openSpool(dir, 32768);  // segments of 4096 bytes: "b" starts the second
    REQUIRE(s->append({1, 1, std::string(1000, 'a')}) == Spool::Append::kOk);
    REQUIRE(s->append({1, 1, std::string(1000, 'x')}) == Spool::Append::kOk);
    REQUIRE(s->append({1, 1, std::string(3000, 'b')}) == Spool::Append::kOk);
  }
  std::string first = dir + "/00000000000000000001.seg";
  auto size = std::filesystem::file_size(first);
  {
    std::fstream f(first, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(1024);  // the second batch's magic
    f.put('X');
  }
  auto s = openSpool(dir, 32768);
  CHECK(std::filesystem::file_size(first) == size);
  CHECK(s->corrupt() == 0);  // not yet reached
  CHECK(drain(*s) == std::vector<std::string>{std::string(1000, 'a'), std::string(3000, 'b')});
  CHECK(s->corrupt() == 1);
  CHECK(s->empty());
  CHECK(s->items() == 0);
}
