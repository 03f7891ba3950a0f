// exporter.otlp end to end: the real daemon, the mock provider and the rules guardrail, exporting
// to a real collector (Jaeger v2, an OpenTelemetry Collector distribution with a query API)
// started here. Asserts on what the collector stored: the caller's trace and parent span, the
// span kinds and names, the GenAI attributes and usage, the guardrail span, content only on the
// capturing route, the GenAI metrics as the collector rendered them; then the collector killed
// and restarted loses nothing (spool replay), the spool survives a daemon restart, and a tiny
// spool drops what does not fit, counted, without slowing requests; a reload while the collector
// is away hands the spool to the new instance; several POSTs go at once
// through a slowed collector, never more than max_in_flight, and nothing is lost; feedback
// arrives as a GenAI evaluation event (OTLP log record), also after an outage.
//
// Without the jaeger binary the tests pass with a warning, except under CI (CI set), where a
// missing collector fails them: deploy/setup.sh --test builds it.
#include <catch2/catch.hpp>

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <outrigger/client.h>

#include "otlp/jaeger_process.h"
#include "otlp/slow_proxy.h"
#include "support/daemon_process.h"
#include "support/sdk_requests.h"

using namespace outrigger;
using namespace outrigger::testing;

namespace {

// True when the collector can run; otherwise reports why: a failure under CI, a warning elsewhere.
bool haveCollector() {
  if (!JaegerProcess::binary().empty()) return true;
  const char* ci = std::getenv("CI");
  std::string why = "no jaeger binary (build/tools/jaeger or $OUTRIGGER_JAEGER_BIN): run deploy/setup.sh --test";
  if (ci && *ci) FAIL(why);
  WARN("skipped: " << why);
  return false;
}

// `encoding`: the exporter's, "protobuf" (its default) or "json".
std::string daemonConfig(const std::string& endpoint, const std::string& spool_dir, uint64_t spool_max_bytes = 1 << 20,
                         const std::string& encoding = "protobuf") {
  return "[server]\nsocket = \"@SOCKET@\"\nworkers = 2\ndrain_grace_ms = 2000\n"
         "[plugins]\ndirs = [\"@PLUGINS@\"]\n"
         "[instances.mock]\ntype = \"provider.mock\"\n[instances.mock.config]\nmode = \"echo\"\nstream_chunks = 3\n"
         "[instances.input_rules]\ntype = \"guardrail.rules\"\n[instances.input_rules.config]\n"
         "deny_patterns = ['(?i)forbidden phrase']\n"
         "[instances.otel]\ntype = \"exporter.otlp\"\n[instances.otel.config]\n"
         "endpoint = \"" + endpoint + "\"\n"
         "service_name = \"outrigger-test\"\n"
         "encoding = \"" + encoding + "\"\n"
         "flush_interval_ms = 50\nbatch_spans = 64\nmax_backoff_ms = 200\ntimeout_ms = 2000\n"
         "metrics_interval_ms = 200\n"
         "spool_path = \"" + spool_dir + "\"\nspool_max_bytes = " + std::to_string(spool_max_bytes) + "\n"
         "[routes.default]\nmodel = \"mock-model\"\nguardrails = [\"input_rules\"]\nprovider = \"mock\"\n"
         "exporters = [\"otel\"]\n"
         "[routes.captured]\nmodel = \"mock-model\"\nguardrails = [\"input_rules\"]\nprovider = \"mock\"\n"
         "exporters = [\"otel\"]\ncapture = \"full\"\n";
}

client::ChatRequest traced(const std::string& text, const std::string& trace_id, const std::string& span_id,
                           const std::string& route = "default") {
  client::ChatRequest r = ask(text);
  r.model = route;
  client::Metadata m;
  m.tenant = "acme";
  m.traceparent = traceparent(trace_id, span_id);
  r.metadata = m;
  return r;
}

const OtlpSpan* byName(const std::vector<OtlpSpan>& spans, const std::string& name, int kind) {
  for (const auto& s : spans) {
    if (s.name == name && s.kind == kind) return &s;
  }
  return nullptr;
}

// "name (kind)" of each span, for failure messages.
std::string names(const std::vector<OtlpSpan>& spans) {
  std::string out;
  for (const auto& s : spans) out += s.name + " (" + std::to_string(s.kind) + ") ";
  return out;
}

uint64_t spooledBytes(const std::string& dir) {
  uint64_t n = 0;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      struct stat st {};
      if (name.size() > 4 && name.substr(name.size() - 4) == ".seg" && ::stat((dir + "/" + name).c_str(), &st) == 0) {
        n += static_cast<uint64_t>(st.st_size);
      }
    }
    ::closedir(d);
  }
  return n;
}

// The finite `le` bounds of one histogram series in Prometheus text, in order.
std::vector<double> bucketBounds(const std::string& text, const std::string& name, const std::string& label) {
  std::vector<double> out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name + "{", 0) != 0 || line.find(label) == std::string::npos) continue;
    size_t le = line.find("le=\"");
    if (le == std::string::npos || line.compare(le + 4, 4, "+Inf") == 0) continue;
    out.push_back(std::stod(line.substr(le + 4, line.find('"', le + 4) - le - 4)));
  }
  return out;
}

template <class P>
bool eventually(P done, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

}  // namespace

TEST_CASE("collector: Jaeger stores the caller's trace with a SERVER root under its traceparent, CLIENT attempts with usage, the guardrail, and content only where captured") {
  if (!haveCollector()) return;
  std::string encoding = GENERATE(as<std::string>(), "protobuf", "json");
  INFO("encoding " << encoding);
  std::string dir = makeTempDir();
  JaegerProcess jaeger(dir);
  REQUIRE(jaeger.start());
  DaemonProcess d(daemonConfig(jaeger.endpoint(), dir + "/spool", 1 << 20, encoding));
  REQUIRE(d.waitReady());
  client::Client c(at(d));

  std::string unary_trace = randomHex(32), unary_parent = randomHex(16);
  auto unary = c.chat(traced("hello there collector", unary_trace, unary_parent));
  REQUIRE(unary.ok());
  std::string stream_trace = randomHex(32), stream_parent = randomHex(16);
  auto s = c.stream(traced("stream this secret answer", stream_trace, stream_parent, "captured"));
  client::Chunk chunk;
  while (s.next(&chunk)) {
  }
  REQUIRE(s.result().ok());
  std::string denied_trace = randomHex(32);
  REQUIRE_FALSE(c.chat(traced("a forbidden phrase", denied_trace, randomHex(16))).ok());

  // Root, the guardrail on the request and on the answer, the planner's decision, the attempt.
  auto spans = jaeger.waitForTrace(unary_trace, 5);
  INFO(d.log());
  INFO(jaeger.log());
  INFO(names(spans));
  REQUIRE(spans.size() == 5);
  CHECK(byName(spans, "resilience mock/mock-model", 1));
  const OtlpSpan* root = byName(spans, "chat mock-model", 2);
  const OtlpSpan* attempt = byName(spans, "chat mock-model", 3);
  const OtlpSpan* guard = byName(spans, "apply_guardrail input_rules", 1);
  REQUIRE(root);
  REQUIRE(attempt);
  REQUIRE(guard);
  CHECK(root->trace_id == unary_trace);
  CHECK(root->parent_span_id == unary_parent);
  CHECK(attempt->parent_span_id == root->span_id);
  CHECK(guard->parent_span_id == root->span_id);
  CHECK(root->text("outrigger.route") == "default");
  CHECK(root->text("outrigger.tenant") == "acme");
  CHECK(attempt->text("gen_ai.operation.name") == "chat");
  CHECK(attempt->text("gen_ai.provider.name") == "mock");
  CHECK(attempt->text("gen_ai.request.model") == "mock-model");
  CHECK(attempt->type("gen_ai.usage.input_tokens") == "int");
  CHECK(attempt->text("gen_ai.usage.input_tokens") == std::to_string(unary.value().usage.prompt_tokens));
  CHECK(attempt->text("gen_ai.usage.output_tokens") == std::to_string(unary.value().usage.completion_tokens));
  CHECK(unary.value().usage.completion_tokens > 0);
  CHECK(attempt->text("gen_ai.response.finish_reasons") == unary.value().finish_reason);
  CHECK(attempt->text("gen_ai.request.stream") == "false");
  CHECK(attempt->status_code == 0);
  CHECK(guard->text("gen_ai.guardrail.result.value") == "pass");
  CHECK(guard->text("gen_ai.guardrail.source") == "input");
  for (const auto& span : spans) {
    CHECK_FALSE(span.has("gen_ai.input.messages"));
    CHECK_FALSE(span.has("gen_ai.output.messages"));
  }

  auto streamed = jaeger.waitForTrace(stream_trace, 5);
  INFO(names(streamed));
  REQUIRE(streamed.size() == 5);
  const OtlpSpan* stream_root = byName(streamed, "chat mock-model", 2);
  const OtlpSpan* stream_attempt = byName(streamed, "chat mock-model", 3);
  REQUIRE(stream_root);
  REQUIRE(stream_attempt);
  CHECK(stream_root->parent_span_id == stream_parent);
  CHECK(stream_attempt->text("gen_ai.request.stream") == "true");
  CHECK(stream_attempt->type("gen_ai.response.time_to_first_chunk") == "double");
  CHECK(stream_attempt->text("gen_ai.input.messages").find("stream this secret answer") != std::string::npos);
  CHECK(stream_attempt->text("gen_ai.output.messages").find(s.result().value().content) != std::string::npos);

  auto refused = jaeger.waitForTrace(denied_trace, 2);
  INFO(names(refused));
  REQUIRE(refused.size() == 2);
  const OtlpSpan* denied_root = byName(refused, "chat mock-model", 2);
  const OtlpSpan* denied_guard = byName(refused, "apply_guardrail input_rules", 1);
  REQUIRE(denied_root);
  REQUIRE(denied_guard);
  CHECK(denied_root->status_code == 2);
  CHECK(denied_root->text("error.type") == "PERMISSION_DENIED");
  CHECK(denied_guard->text("gen_ai.guardrail.result.value") == "deny");
  CHECK(denied_guard->text("gen_ai.guardrail.result.reason").find("forbidden phrase") != std::string::npos);
}

TEST_CASE("collector: the GenAI metrics reach the collector with the conventions' names, units and buckets") {
  if (!haveCollector()) return;
  std::string encoding = GENERATE(as<std::string>(), "protobuf", "json");
  INFO("encoding " << encoding);
  std::string dir = makeTempDir();
  JaegerProcess jaeger(dir);
  REQUIRE(jaeger.start());
  DaemonProcess d(daemonConfig(jaeger.endpoint(), dir + "/spool", 1 << 20, encoding));
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  uint64_t input = 0;
  for (int i = 0; i < 3; ++i) {
    auto r = c.chat(traced("count my words please", randomHex(32), randomHex(16)));
    REQUIRE(r.ok());
    input += r.value().usage.prompt_tokens;
  }
  // Prometheus names of the OTLP metrics: dots to underscores, seconds suffixed, {token} dropped.
  std::string usage = "gen_ai_client_token_usage_sum{gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"mock\","
                      "gen_ai_request_model=\"mock-model\"";
  INFO(d.log());
  REQUIRE(eventually([&] { return jaeger.metricsText().find("gen_ai_token_type=\"input\"") != std::string::npos &&
                                  jaeger.metric("gen_ai_client_operation_duration_seconds_count") == 3; }));
  std::string text = jaeger.metricsText();
  INFO(text);
  CHECK(bucketBounds(text, "gen_ai_client_token_usage_bucket", "gen_ai_token_type=\"input\"") ==
        std::vector<double>{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864});
  CHECK(bucketBounds(text, "gen_ai_client_operation_duration_seconds_bucket", "gen_ai_provider_name=\"mock\"") ==
        std::vector<double>{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92});
  double input_sum = -1;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(usage, 0) == 0 && line.find("gen_ai_token_type=\"input\"") != std::string::npos) {
      input_sum = std::stod(line.substr(line.rfind(' ') + 1));
    }
  }
  CHECK(input_sum == static_cast<double>(input));
  // The exporter's own counters go out with its next metrics export, which may precede the spans'.
  CHECK(eventually([&] { return jaeger.metric("outrigger_otlp_spans_total", {"outcome=\"exported\""}) > 0; }));
}

TEST_CASE("collector: with the collector killed, every request's trace is spooled and arrives after it restarts") {
  if (!haveCollector()) return;
  std::string dir = makeTempDir();
  JaegerProcess jaeger(dir);
  REQUIRE(jaeger.start());
  DaemonProcess d(daemonConfig(jaeger.endpoint(), dir + "/spool"));
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  auto run = [&](const client::ChatRequest& req, bool stream) {
    if (!stream) return c.chat(req).ok();
    auto s = c.stream(req);
    client::Chunk chunk;
    while (s.next(&chunk)) {
    }
    return s.result().ok();
  };
  // How many spans a unary and a streamed request make, while the collector is up.
  size_t per_request[2] = {0, 0};
  for (bool stream : {false, true}) {
    std::string t = randomHex(32);
    REQUIRE(run(traced("before the outage", t, randomHex(16)), stream));
    per_request[stream] = jaeger.waitForTrace(t, 5).size();
    REQUIRE(per_request[stream] >= 3);
  }

  jaeger.kill();
  constexpr int kRequests = 40;
  std::vector<std::string> traces;
  for (int i = 0; i < kRequests; ++i) {
    traces.push_back(randomHex(32));
    REQUIRE(run(traced("during the outage " + std::to_string(i), traces.back(), randomHex(16)), i % 2 == 1));
  }
  INFO(d.log());
  REQUIRE(eventually([&] { return spooledBytes(dir + "/spool") > 0; }));

  REQUIRE(jaeger.start());
  for (int i = 0; i < kRequests; ++i) {
    size_t want = per_request[i % 2 == 1];
    auto spans = jaeger.waitForTrace(traces[i], want);
    INFO(traces[i] << ": " << names(spans));
    CHECK(spans.size() == want);
  }
  CHECK(eventually([&] { return spooledBytes(dir + "/spool") == 0; }));
}

namespace {

// Appends a batch whose header is sound and whose body fails its CRC (the spool's layout:
// exporter_otlp/spool.h) to the newest segment in `spool`.
void appendDamagedBatch(const std::string& spool) {
  std::string newest;
  if (DIR* d = ::opendir(spool.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name.size() > 4 && name.substr(name.size() - 4) == ".seg") newest = std::max(newest, name);
    }
    ::closedir(d);
  }
  REQUIRE_FALSE(newest.empty());
  const unsigned char header[24] = {'O', 'T', 'S', 'P', 1, 1, 1, 0, 1, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0};
  std::ofstream seg(spool + "/" + newest, std::ios::app | std::ios::binary);
  seg.write(reinterpret_cast<const char*>(header), sizeof header);
  seg << "junk";
}

}  // namespace

TEST_CASE("collector: traces spooled while the collector is away survive a daemon restart and are sent after it") {
  if (!haveCollector()) return;
  std::string dir = makeTempDir();
  JaegerProcess jaeger(dir);  // not started yet: the collector is away
  std::string spool = dir + "/spool";
  std::vector<std::string> traces;
  {
    DaemonProcess d(daemonConfig(jaeger.endpoint(), spool));
    REQUIRE(d.waitReady());
    client::Client c(at(d));
    for (int i = 0; i < 10; ++i) {
      traces.push_back(randomHex(32));
      REQUIRE(c.chat(traced("spooled before a restart", traces.back(), randomHex(16))).ok());
    }
    d.signal(SIGTERM);
    REQUIRE(d.waitExit() == 0);
  }
  REQUIRE(spooledBytes(spool) > 0);
  appendDamagedBatch(spool);  // the disk lost a byte of one batch: it alone is skipped, and said so
  REQUIRE(jaeger.start());
  // The next config says JSON: the spooled batches are protobuf, and go with their own Content-Type.
  DaemonProcess d(daemonConfig(jaeger.endpoint(), spool, 1 << 20, "json"));
  REQUIRE(d.waitReady());
  for (const auto& t : traces) CHECK(jaeger.waitForTrace(t, 5).size() == 5);
  d.signal(SIGTERM);
  CHECK(d.waitExit() == 0);
  INFO(d.log());
  CHECK(d.log().find("from before; sending them first") != std::string::npos);
  CHECK(d.log().find("damaged spool batches skipped 1") != std::string::npos);
}

TEST_CASE("collector: a reload while the collector is away retires the old exporter, whose spool the new one takes, and every trace arrives once") {
  if (!haveCollector()) return;
  std::string dir = makeTempDir();
  JaegerProcess jaeger(dir);  // away until the end
  std::string spool = dir + "/spool";
  std::string config = daemonConfig(jaeger.endpoint(), spool);
  DaemonProcess d(config);
  REQUIRE(d.waitReady());
  std::vector<std::string> traces;
  auto ask = [&](const std::string& text) {
    client::Client c(at(d));
    for (int i = 0; i < 10; ++i) {
      traces.push_back(randomHex(32));
      REQUIRE(c.chat(traced(text + " " + std::to_string(i), traces.back(), randomHex(16))).ok());
    }
  };
  ask("before the reload");
  INFO(d.log());
  REQUIRE(eventually([&] { return spooledBytes(spool) > 0; }));
  // Another batch size: the exporter is a new instance, and the old one must let the spool go.
  config.replace(config.find("batch_spans = 64"), 16, "batch_spans = 32");
  REQUIRE(d.reload(config, 2));
  // The old instance ends, writing what it held to the spool and letting it go; the new one opens
  // it at its next flush tick.
  REQUIRE(eventually([&] { return d.log().find("from before; sending them first") != std::string::npos; }));
  ask("after the reload");
  // Only a spool outlives the daemon: what the new instance did not get into one is lost here.
  d.signal(SIGTERM);
  REQUIRE(d.waitExit() == 0);
  REQUIRE(jaeger.start());
  d.restart();
  REQUIRE(d.waitReady());
  for (const auto& t : traces) {
    auto spans = jaeger.waitForTrace(t, 5);
    INFO(t << ": " << names(spans));
    CHECK(spans.size() == 5);
  }
  CHECK(eventually([&] { return spooledBytes(spool) == 0; }));
}

TEST_CASE("collector: a tiny spool drops what does not fit, counts every span, and requests never wait for it") {
  if (!haveCollector()) return;
  std::string dir = makeTempDir();
  JaegerProcess jaeger(dir);  // away until the requests are done
  // One request's spans per batch: a few batches fit in the spool, the rest cannot.
  std::string config = daemonConfig(jaeger.endpoint(), dir + "/spool", 4096);
  // The collector is on loopback, so POSTs go plain; the spool gzips what it takes, so a few fit.
  config.replace(config.find("batch_spans = 64"), 16, "batch_spans = 5");
  DaemonProcess d(config);
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  constexpr int kRequests = 60;
  auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < kRequests; ++i) {
    REQUIRE(c.chat(traced("no room for all of these " + std::to_string(i), randomHex(32), randomHex(16))).ok());
    if (i % 10 == 9) std::this_thread::sleep_for(std::chrono::milliseconds(60));  // a few flushes meanwhile
  }
  auto took = std::chrono::steady_clock::now() - started;
  CHECK(took < std::chrono::seconds(10));
  CHECK(spooledBytes(dir + "/spool") <= 4096);

  REQUIRE(jaeger.start());
  INFO(d.log());
  // Every span made from a record is exported or dropped (the collector rejects none): none is
  // lost unaccounted. Five spans per request.
  double encoded = 0, exported = 0, dropped = 0;
  bool settled = eventually([&] {
    encoded = jaeger.metric("outrigger_otlp_spans_total", {"outcome=\"encoded\""});
    exported = jaeger.metric("outrigger_otlp_spans_total", {"outcome=\"exported\""});
    dropped = jaeger.metric("outrigger_otlp_spans_total", {"outcome=\"dropped\""});
    return encoded == kRequests * 5 && exported + dropped == encoded;
  });
  INFO("encoded " << encoded << ", exported " << exported << ", dropped " << dropped);
  REQUIRE(settled);
  CHECK(exported > 0);
  CHECK(dropped > 0);
  CHECK(d.log().find("dropped") != std::string::npos);
}

TEST_CASE("collector: behind a slowed collector several POSTs are in flight at once, never more than max_in_flight, and every trace arrives") {
  if (!haveCollector()) return;
  std::string dir = makeTempDir();
  JaegerProcess jaeger(dir);
  REQUIRE(jaeger.start());
  for (int max_in_flight : {1, 4}) {
    SlowProxy proxy(jaeger.otlpPort(), std::chrono::milliseconds(150));
    std::string config = daemonConfig("http://127.0.0.1:" + std::to_string(proxy.port()),
                                      dir + "/spool-" + std::to_string(max_in_flight));
    // One request's five spans per batch, so each request is a POST of its own.
    config.replace(config.find("batch_spans = 64\n"), 17, "batch_spans = 5\nmax_in_flight = " + std::to_string(max_in_flight) + "\n");
    DaemonProcess d(config);
    REQUIRE(d.waitReady());
    client::Client c(at(d));
    std::vector<std::string> traces;
    for (int i = 0; i < 16; ++i) {
      traces.push_back(randomHex(32));
      REQUIRE(c.chat(traced("slow collector " + std::to_string(i), traces.back(), randomHex(16))).ok());
    }
    INFO("max_in_flight " << max_in_flight << "; " << d.log());
    for (const auto& t : traces) CHECK(jaeger.waitForTrace(t, 5).size() == 5);
    CHECK(proxy.mostAtOnce() <= max_in_flight);
    if (max_in_flight == 1) CHECK(proxy.mostAtOnce() == 1);
    else CHECK(proxy.mostAtOnce() >= 2);
    CHECK(proxy.requests() >= 16);
  }
}

// The collector's debug exporter prints each log record it decoded; the block of the one in `trace`.
std::string logRecordOf(const std::string& log, const std::string& trace, const std::string& needle) {
  for (size_t at = log.find("Trace ID: " + trace); at != std::string::npos; at = log.find("Trace ID: " + trace, at + 1)) {
    size_t start = log.rfind("LogRecord #", at);
    std::string block = log.substr(start == std::string::npos ? 0 : start, at - start + 80);
    if (block.find(needle) != std::string::npos) return block;
  }
  return {};
}

TEST_CASE("collector: feedback arrives as a gen_ai.evaluation.result log record in the answer's trace and root span, also after an outage") {
  if (!haveCollector()) return;
  std::string encoding = GENERATE(as<std::string>(), "protobuf", "json");
  INFO("encoding " << encoding);
  std::string dir = makeTempDir();
  JaegerProcess jaeger(dir);
  REQUIRE(jaeger.start());
  DaemonProcess d(daemonConfig(jaeger.endpoint(), dir + "/spool", 1 << 20, encoding));
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  std::string trace = randomHex(32);
  REQUIRE(c.chat(traced("rate this answer", trace, randomHex(16))).ok());
  auto spans = jaeger.waitForTrace(trace, 5);
  const OtlpSpan* root = byName(spans, "chat mock-model", 2);
  REQUIRE(root);
  REQUIRE_FALSE(c.feedback(trace, 0.25, "right, but too long").has_value());
  INFO(d.log());
  std::string record;
  REQUIRE(eventually([&] { return !(record = logRecordOf(jaeger.log(), trace, "Double(0.25)")).empty(); }));
  INFO(record);
  CHECK(record.find("EventName: gen_ai.evaluation.result") != std::string::npos);
  CHECK(record.find("-> gen_ai.evaluation.name: Str(user_feedback)") != std::string::npos);
  CHECK(record.find("-> gen_ai.evaluation.score.value: Double(0.25)") != std::string::npos);
  CHECK(record.find("-> gen_ai.evaluation.explanation: Str(right, but too long)") != std::string::npos);
  CHECK(record.find("Span ID: " + root->span_id) != std::string::npos);
  CHECK(jaeger.log().find("InstrumentationScope outrigger.exporter.otlp") != std::string::npos);

  // With the collector away the feedback waits in the spool and arrives once it is back.
  jaeger.kill();
  REQUIRE_FALSE(c.feedback(trace, 0.75, "on second thought").has_value());
  REQUIRE(eventually([&] { return spooledBytes(dir + "/spool") > 0; }));
  REQUIRE(jaeger.start());
  CHECK(eventually([&] { return !logRecordOf(jaeger.log(), trace, "Double(0.75)").empty(); }));
}

// Figures, not a pass/fail timing: run with `otlp_tests "[bench]"`. Unary requests from 8
// connections for 2 s against the same daemon config with and without the OTLP exporter (Jaeger
// up), alternating, 3 rounds each; then how long the collector takes to hold every span.
TEST_CASE("collector: request throughput with and without the OTLP exporter", "[.][bench]") {
  if (!haveCollector()) return;
  std::string dir = makeTempDir();
  JaegerProcess jaeger(dir);
  REQUIRE(jaeger.start());
  std::string with = daemonConfig(jaeger.endpoint(), dir + "/spool");
  // The defaults' batching rather than the tests' small, frequent batches.
  with.replace(with.find("flush_interval_ms = 50\nbatch_spans = 64"), 39, "flush_interval_ms = 1000\nbatch_spans = 512");
  std::string without = with;
  for (size_t p = without.find("exporters = [\"otel\"]\n"); p != std::string::npos;
       p = without.find("exporters = [\"otel\"]\n")) {
    without.erase(p, std::string("exporters = [\"otel\"]\n").size());
  }
  auto drive = [](DaemonProcess& d, double seconds) {
    std::atomic<uint64_t> done{0};
    std::vector<std::thread> threads;
    auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&] {
        client::Client c(at(d));
        while (std::chrono::steady_clock::now() < until) {
          if (c.chat(traced("measure the exporter", randomHex(32), randomHex(16))).ok()) ++done;
        }
      });
    }
    for (auto& t : threads) t.join();
    return done.load() / seconds;
  };
  std::vector<double> base, otlp;
  for (int round = 0; round < 3; ++round) {
    {
      DaemonProcess d(without);
      REQUIRE(d.waitReady());
      base.push_back(drive(d, 2));
    }
    // A service name per round: the collector keeps each daemon's cumulative counters apart.
    std::string job = "bench-round-" + std::to_string(round);
    std::string config = with;
    config.replace(config.find("outrigger-test"), std::string("outrigger-test").size(), job);
    DaemonProcess d(config);
    REQUIRE(d.waitReady());
    double rate = drive(d, 2);
    otlp.push_back(rate);
    auto t0 = std::chrono::steady_clock::now();
    bool drained = eventually([&] {
      auto count = [&](const char* outcome) {
        return jaeger.metric("outrigger_otlp_spans_total", {"outcome=\"" + std::string(outcome) + "\"", "job=\"" + job + "\""});
      };
      double encoded = count("encoded");
      return encoded > 0 && count("exported") + count("dropped") + count("rejected") == encoded;
    }, std::chrono::seconds(60));
    double drain_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    double exported = jaeger.metric("outrigger_otlp_spans_total", {"outcome=\"exported\"", "job=\"" + job + "\""});
    double dropped = jaeger.metric("outrigger_otlp_spans_total", {"outcome=\"dropped\"", "job=\"" + job + "\""});
    WARN("round " << round << ": without " << base.back() << " req/s, with " << rate << " req/s (ratio "
                  << rate / base.back() << "); exported " << exported << " spans, dropped " << dropped
                  << ", every span accounted for " << (drained ? "" : "NOT ") << "within " << drain_ms
                  << " ms of the last request");
    d.signal(SIGTERM);
    d.waitExit();
  }
  std::sort(base.begin(), base.end());
  std::sort(otlp.begin(), otlp.end());
  WARN("median: without " << base[1] << " req/s, with " << otlp[1] << " req/s, ratio " << otlp[1] / base[1]);
}

// Unary requests at `rate` a second for 3 s from 4 connections; how many were answered.
uint64_t pacedLoad(DaemonProcess& d, int rate) {
  std::atomic<uint64_t> ok{0};
  std::vector<std::thread> threads;
  auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      client::Client c(at(d));
      auto gap = std::chrono::duration<double>(4.0 / rate);
      for (int i = 0; i < rate * 3 / 4; ++i) {
        std::this_thread::sleep_until(start + std::chrono::duration_cast<std::chrono::nanoseconds>(gap * (i + t / 4.0)));
        if (c.chat(traced("paced", randomHex(32), randomHex(16))).ok()) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  return ok.load();
}

// Figures: paced load (unary requests at a fixed rate for 3 s, 4 connections) with the default
// batching, Jaeger on the same two cores: does every span reach the collector, and how soon.
TEST_CASE("collector: paced load, every span at the collector or counted", "[.][bench]") {
  if (!haveCollector()) return;
  std::string dir = makeTempDir();
  JaegerProcess jaeger(dir);
  REQUIRE(jaeger.start());
  for (int rate : {1000, 4000, 8000, 16000}) {
    std::string job = "paced-" + std::to_string(rate);
    std::string config = daemonConfig(jaeger.endpoint(), dir + "/spool-" + std::to_string(rate));
    config.replace(config.find("flush_interval_ms = 50\nbatch_spans = 64"), 39, "flush_interval_ms = 1000\nbatch_spans = 512");
    config.replace(config.find("outrigger-test"), std::string("outrigger-test").size(), job);
    DaemonProcess d(config);
    REQUIRE(d.waitReady());
    auto start = std::chrono::steady_clock::now();
    uint64_t ok = pacedLoad(d, rate);
    double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    auto count = [&](const char* outcome) {
      return jaeger.metric("outrigger_otlp_spans_total", {"outcome=\"" + std::string(outcome) + "\"", "job=\"" + job + "\""});
    };
    auto t0 = std::chrono::steady_clock::now();
    bool settled = eventually([&] {
      double encoded = count("encoded");
      return encoded >= ok * 5.0 && count("exported") + count("dropped") + count("rejected") == encoded;
    }, std::chrono::seconds(60));
    double settle_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    WARN(rate << " req/s asked, " << ok / took << " served: encoded " << count("encoded") << " spans, exported "
              << count("exported") << ", dropped " << count("dropped") << ", accounted for " << (settled ? "" : "NOT ")
              << "within " << settle_ms << " ms (metrics every 200 ms, batches every 1 s)");
  }
}

// Figures: the paced load at 6,000 requests/s (30,000 spans/s) with the default batching,
// exported through a relay that holds each POST 50 ms (a collector across a network), with one
// POST in flight and with four: spans exported per second from the load's start until every span
// is accounted for, and the most POSTs the relay saw at once.
TEST_CASE("collector: export rate behind a collector 50 ms away, one POST in flight and four", "[.][bench]") {
  if (!haveCollector()) return;
  std::string dir = makeTempDir();
  JaegerProcess jaeger(dir);
  REQUIRE(jaeger.start());
  for (int max_in_flight : {1, 4}) {
    SlowProxy proxy(jaeger.otlpPort(), std::chrono::milliseconds(50));
    std::string job = "remote-" + std::to_string(max_in_flight);
    std::string config = daemonConfig("http://127.0.0.1:" + std::to_string(proxy.port()), dir + "/spool-" + job, 256 << 20);
    config.replace(config.find("flush_interval_ms = 50\nbatch_spans = 64"), 39,
                   "flush_interval_ms = 1000\nbatch_spans = 512\nmax_in_flight = " + std::to_string(max_in_flight));
    config.replace(config.find("outrigger-test"), std::string("outrigger-test").size(), job);
    DaemonProcess d(config);
    REQUIRE(d.waitReady());
    auto start = std::chrono::steady_clock::now();
    uint64_t ok = pacedLoad(d, 6000);
    auto count = [&](const char* outcome) {
      return jaeger.metric("outrigger_otlp_spans_total", {"outcome=\"" + std::string(outcome) + "\"", "job=\"" + job + "\""});
    };
    bool settled = eventually([&] {
      double encoded = count("encoded");
      return encoded >= ok * 5.0 && count("exported") + count("dropped") + count("rejected") == encoded;
    }, std::chrono::seconds(120));
    double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    WARN("max_in_flight " << max_in_flight << ": " << ok << " requests, " << count("encoded") << " spans encoded, "
                          << count("exported") << " exported, " << count("dropped") << " dropped, accounted for "
                          << (settled ? "" : "NOT ") << took << " s after the load began: " << count("exported") / took
                          << " spans/s; at most " << proxy.mostAtOnce() << " POSTs at once");
  }
}
