// Cassettes through the real daemon: 1,000 requests (unary and streamed, tool calls, refusals,
// guardrail denials, cache hits) recorded from the scripted upstream, then replayed
// by a daemon whose upstream is gone: every answer the same, byte for byte and chunk for chunk,
// with the same verdicts, cache decisions and costs, and not one upstream connection. A request
// that was never recorded is a typed error naming where it differs from the nearest recording.
#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <functional>
#include <sstream>
#include <memory>
#include <string>
#include <vector>

#include <outrigger/client.h>

#include "daemon_rig.h"
#include "support/admin_metrics.h"
#include "support/daemon_process.h"
#include "support/run_command.h"
#include "support/sdk_requests.h"
#include "upstream_process.h"

using namespace outrigger;
using namespace outrigger::testing;
using client::StatusCode;

namespace {

std::string replayConfig(const std::string& base_url, const std::string& mode, const std::string& tape,
                         const std::string& route_extra = "", const std::string& openai_extra = "") {
  return daemonHead() + openaiInstance("openai", base_url) + "model = \"gpt-4o-mini\"\n" + openai_extra +
         "[instances.openai.config.cassette]\nmode = \"" + mode + "\"\npath = \"" + tape + "\"\n" +
         "redact = ['\\d{3}-\\d{2}-\\d{4}']\n"
         "[instances.memo]\ntype = \"cache.memory\"\n"
         "[instances.input_rules]\ntype = \"guardrail.rules\"\n[instances.input_rules.config]\n"
         "deny_patterns = ['(?i)forbidden phrase']\n"
         "[routes.default]\nprovider = \"openai\"\nguardrails = [\"input_rules\"]\ncache = \"memo\"\n" + route_extra +
         "[prices.\"openai/gpt-4o-mini\"]\ninput = 0.00000015\noutput = 0.0000006\n"
         "[admin]\nlisten = \"127.0.0.1:0\"\n";
}

// The exchanges a cassette holds, one a line: without the line naming the run that began it.
std::vector<std::string> recordedLines(const std::string& tape) {
  std::ifstream in(tape);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) {
    if (!l.empty() && l.rfind("{\"session\":", 0) != 0) out.push_back(l);
  }
  return out;
}

client::ChatRequest question(int i) {
  std::string text = "question " + std::to_string(i % 250);
  if (i % 97 == 0) text += " with a forbidden phrase";
  client::ChatRequest r = ask(text);
  r.max_tokens = 64;
  return r;
}

// Everything the caller saw of one answer, as one comparable text.
std::string seen(client::Client& c, int i) {
  client::ChatRequest r = question(i);
  std::string out;
  const client::Result<client::Response>* result = nullptr;
  std::unique_ptr<client::Stream> stream;
  client::Result<client::Response> unary = client::Error{};
  if (i % 3 == 0) {
    stream = std::make_unique<client::Stream>(c.stream(r));
    client::Chunk chunk;
    while (stream->next(&chunk)) out += "[chunk " + std::to_string(chunk.seq) + (chunk.refusal ? " refusal" : "") + "]" + chunk.delta;
    result = &stream->result();
  } else {
    unary = c.chat(r);
    result = &unary;
  }
  if (!result->ok()) return out + " error " + std::to_string(int(result->error().code)) + " " + result->error().message;
  const client::Response& a = result->value();
  out += " content=" + a.content + " finish=" + a.finish_reason + " model=" + a.model + " refusal=" +
         std::to_string(a.refusal) + " hit=" + std::to_string(a.cache_hit) + " cost=" + std::to_string(a.cost_usd) +
         " usage=" + std::to_string(a.usage.prompt_tokens) + "/" + std::to_string(a.usage.completion_tokens);
  for (const auto& t : a.tool_calls) out += " tool=" + t.name + t.arguments;
  for (const auto& v : a.verdicts) out += " verdict=" + v.guardrail + ":" + std::to_string(v.verdict) + ":" + v.reason;
  return out;
}

}  // namespace

TEST_CASE("cassettes: 1,000 recorded requests replay with the same bytes, chunks, verdicts, cache decisions and costs, with no upstream") {
  ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test-replay", 1);
  std::string tape = makeTempDir() + "/session.jsonl";
  std::vector<std::string> recorded;
  std::string dead_url;
  {
    UpstreamProcess up;
    REQUIRE(up.ready());
    dead_url = up.baseUrl();
    // Seeded choices: text in pieces, tool calls and refusals.
    REQUIRE(up.post("/_control/script", R"({"steps": [], "keep_log": false, "default": {"fault": "mix", "weights": [6, 1, 1],
      "choices": [{"fault": "ok", "text": "Hello there, friend.", "pieces": 4, "usage": {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}},
                  {"fault": "ok", "tool_calls": [{"id": "call_1", "name": "lookup", "arguments": "{\"q\": 1}"}]},
                  {"fault": "refusal", "refusal": "I can't help with that."}]}})") == 200);
    DaemonProcess record(replayConfig(up.baseUrl(), "record", tape));
    REQUIRE(record.waitReady());
    client::Client c(at(record));
    for (int i = 0; i < 1000; ++i) recorded.push_back(seen(c, i));

  }  // the upstream is gone from here on
  size_t lines = 0;
  {
    std::ifstream in(tape);
    for (std::string l; std::getline(in, l);) ++lines;
  }
  CHECK(lines >= 250);  // every call the provider made, retries included

  DaemonProcess replay(replayConfig(dead_url, "replay", tape));
  REQUIRE(replay.waitReady());
  client::Client c(at(replay));
  int same = 0;
  for (int i = 0; i < 1000; ++i) {
    std::string again = seen(c, i);
    if (again == recorded[i]) {
      ++same;
    } else {
      INFO("request " << i << "\nrecorded: " << recorded[i] << "\nreplayed: " << again);
      CHECK(again == recorded[i]);
    }
  }
  CHECK(same == 1000);
  CHECK(adminMetric(replay, "outrigger_upstream_connections_opened_total") == 0);

  // The variety the session covered, so the comparison above means something.
  auto count = [&](const std::string& what) {
    return std::count_if(recorded.begin(), recorded.end(), [&](const std::string& s) { return s.find(what) != std::string::npos; });
  };
  CHECK(count("[chunk") > 100);
  CHECK(count("error") == count("error 7 "));  // no other failure: the upstream answered every call
  CHECK(count("tool=lookup") > 10);
  CHECK(count("refusal=1") > 10);
  CHECK(count("hit=1") > 100);
  CHECK(count("error 7 ") >= 10);  // denied by the guardrail before the provider
}

TEST_CASE("cassettes: a request never recorded is a typed error that says where it differs from the nearest recording") {
  ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test-replay", 1);
  std::string tape = makeTempDir() + "/one.jsonl";
  std::string url;
  {
    UpstreamProcess up;
    REQUIRE(up.ready());
    url = up.baseUrl();
    DaemonProcess record(replayConfig(up.baseUrl(), "record", tape));
    REQUIRE(record.waitReady());
    client::Client c(at(record));
    REQUIRE(c.chat(ask("my number is 123-45-6789, what is the weather")).ok());
  }
  std::vector<std::string> lines = recordedLines(tape);
  REQUIRE(lines.size() == 1);
  const std::string& line = lines[0];
  CHECK(line.find("123-45-6789") == std::string::npos);  // redacted in the stored request
  CHECK(line.find("<redacted>") != std::string::npos);
  CHECK(line.find("sk-test-replay") == std::string::npos);  // request headers are never written

  DaemonProcess replay(replayConfig(url, "replay", tape));
  REQUIRE(replay.waitReady());
  client::Client c(at(replay));
  auto same = c.chat(ask("my number is 123-45-6789, what is the weather"));
  REQUIRE(same.ok());
  auto other = c.chat(ask("my number is 123-45-6789, what is the time"));
  REQUIRE_FALSE(other.ok());
  CHECK(other.error().code == StatusCode::kFailedPrecondition);
  CHECK(other.error().message.find("no recording for this request") != std::string::npos);
  CHECK(other.error().message.find("/messages/0/content") != std::string::npos);
  // What differs there is another request's text: the log says it, the caller is not told it.
  CHECK(other.error().message.find("what is the weather") == std::string::npos);
  CHECK(replay.log().find("what is the weather") != std::string::npos);
  CHECK(replay.log().find("what is the time") != std::string::npos);
}

TEST_CASE("cassettes: a request recorded several times replays its recordings in order, so a retried 429 is retried again") {
  ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test-replay", 1);
  std::string tape = makeTempDir() + "/retry.jsonl";
  std::string url;
  std::string retry = "retry = { max_attempts = 3, base_backoff_ms = 1, max_backoff_ms = 5 }\n";
  {
    UpstreamProcess up;
    REQUIRE(up.ready());
    url = up.baseUrl();
    REQUIRE(up.script(R"([{"fault": "status", "code": 429, "headers": {"retry-after-ms": "5"}},
                          {"fault": "ok", "text": "answered on the second attempt"}])"));
    DaemonProcess record(replayConfig(up.baseUrl(), "record", tape, retry));
    REQUIRE(record.waitReady());
    client::Client c(at(record));
    auto r = c.chat(ask("retry me"));
    REQUIRE(r.ok());
    CHECK(r.value().content == "answered on the second attempt");
    CHECK(adminMetric(record, "outrigger_attempts_total") == 2);
  }
  DaemonProcess replay(replayConfig(url, "replay", tape, retry));
  REQUIRE(replay.waitReady());
  client::Client c(at(replay));
  auto r = c.chat(ask("retry me"));
  REQUIRE(r.ok());
  CHECK(r.value().content == "answered on the second attempt");
  CHECK(adminMetric(replay, "outrigger_attempts_total") == 2);  // the 429 again, then the answer
  CHECK(adminMetric(replay, "outrigger_upstream_connections_opened_total") == 0);
}

TEST_CASE("cassettes: an answer over max_body_bytes still reaches the caller but is not recorded") {
  ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test-replay", 1);
  std::string tape = makeTempDir() + "/big.jsonl";
  UpstreamProcess up;
  REQUIRE(up.ready());
  std::string text(3000, 'x');
  REQUIRE(up.script(R"([{"fault": "ok", "text": ")" + text + R"(", "pieces": 30},
                        {"fault": "ok", "text": "small"}])"));
  DaemonProcess record(replayConfig(up.baseUrl(), "record", tape, "", "max_body_bytes = 2048\n"));
  REQUIRE(record.waitReady());
  client::Client c(at(record));
  client::ChatRequest big = ask("a long answer please");
  client::Stream s = c.stream(big);
  client::Chunk chunk;
  while (s.next(&chunk)) {
  }
  REQUIRE(s.result().ok());
  CHECK(s.result().value().content == text);
  REQUIRE(c.chat(ask("a short one")).ok());
  std::vector<std::string> lines = recordedLines(tape);
  for (const std::string& l : lines) CHECK(l.find("small") != std::string::npos);
  CHECK(lines.size() == 1);  // only the small answer
  CHECK(record.log().find("not recorded in the cassette") != std::string::npos);
}

namespace {

// One unary answer in `mode` against an upstream scripted with `steps`; the daemon stops after.
void recordOnce(const std::string& tape, const std::string& mode, const std::string& steps,
                const std::function<void(client::Client&)>& ask_it) {
  UpstreamProcess up;
  REQUIRE(up.ready());
  REQUIRE(up.script(steps));
  DaemonProcess d(replayConfig(up.baseUrl(), mode, tape));
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  ask_it(c);
}

// What a daemon replaying `tape`, with no upstream, answers `question` (an error's message when
// it fails).
std::string replayedAnswer(const std::string& tape, const std::string& question) {
  DaemonProcess replay(replayConfig("http://127.0.0.1:9", "replay", tape));
  REQUIRE(replay.waitReady());
  client::Client c(at(replay));
  auto r = c.chat(ask(question));
  return r.ok() ? r.value().content : "error: " + r.error().message;
}

std::string fileText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

// `record` records the session again: appending to the old file, a replay served the old
// answer first and the new one only the second time.
TEST_CASE("cassettes: recording again replaces the earlier recording") {
  ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test-replay", 1);
  std::string tape = makeTempDir() + "/again.jsonl";
  auto once = [](client::Client& c) { REQUIRE(c.chat(ask("what changed")).ok()); };
  recordOnce(tape, "record", R"([{"text": "OLD answer"}])", once);
  // Checking a record-mode config creates its instances and records nothing: the file stays.
  std::string before = fileText(tape);
  {
    std::string text = replayConfig("http://127.0.0.1:9", "record", tape);
    auto put = [&](const std::string& from, const std::string& to) {
      for (size_t at; (at = text.find(from)) != std::string::npos;) text.replace(at, from.size(), to);
    };
    put("@SOCKET@", tape + ".sock");
    put("@DIR@", tape + ".d");
    put("@PLUGINS@", OUTRIGGER_PLUGIN_DIR);
    std::ofstream cfg(tape + ".toml");
    cfg << text;
  }
  auto [checked, check_out] = runCommand(std::string(OUTRIGGER_BIN) + " check --config " + tape + ".toml 2>&1");
  INFO(check_out);
  CHECK(checked == 0);
  CHECK(fileText(tape) == before);
  recordOnce(tape, "record", R"([{"text": "NEW answer"}])", once);
  CHECK(replayedAnswer(tape, "what changed") == "NEW answer");
}

// A stream is whole at its terminal event: one whose connection was reset or held open after it
// reached the caller whole, and is recorded, so a replay serves it too.
TEST_CASE("cassettes: streams whose transport broke or hung after the terminal event are recorded and replayed") {
  ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test-replay", 1);
  std::string tape = makeTempDir() + "/ends.jsonl";
  recordOnce(tape, "record",
             R"([{"fault": "reset_after_terminal", "text": "cut after done"},
                 {"fault": "hold_after_terminal", "ms": 20000, "text": "held after done"}])",
             [](client::Client& c) {
               for (const char* q : {"first", "second"}) {
                 auto s = c.stream(ask(q));
                 client::Chunk chunk;
                 while (s.next(&chunk)) {
                 }
                 REQUIRE(s.result().ok());
               }
             });
  DaemonProcess replay(replayConfig("http://127.0.0.1:9", "replay", tape));
  REQUIRE(replay.waitReady());
  client::Client c(at(replay));
  int i = 0;
  for (const char* q : {"first", "second"}) {
    auto s = c.stream(ask(q));
    client::Chunk chunk;
    std::string text;
    while (s.next(&chunk)) text += chunk.delta;
    INFO(q << ": " << (s.result().ok() ? std::string() : s.result().error().message));
    REQUIRE(s.result().ok());
    CHECK(text == (i++ == 0 ? "cut after done" : "held after done"));
  }
}

// An upstream that echoes the key back in an error must not put it in the file; and a file whose
// last line a crash cut short still loads, without it.
TEST_CASE("cassettes: a key the upstream echoes is not recorded, and a line cut short is left out") {
  ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test-echoed-4e1d", 1);
  std::string tape = makeTempDir() + "/keys.jsonl";
  recordOnce(tape, "record",
             R"([{"fault": "status", "code": 401, "message": "Incorrect API key provided: sk-test-echoed-4e1d"},
                 {"text": "fine"}])",
             [](client::Client& c) {
               auto denied = c.chat(ask("one"));
               REQUIRE_FALSE(denied.ok());
               REQUIRE(c.chat(ask("two")).ok());
             });
  std::string text = fileText(tape);
  CHECK(text.find("sk-test-echoed-4e1d") == std::string::npos);
  CHECK(text.find("Incorrect API key provided") != std::string::npos);
  {
    std::ofstream cut(tape, std::ios::app);
    cut << R"({"key":"0123","path":"/v1/chat/comp)";  // an append a crash cut short
  }
  CHECK(replayedAnswer(tape, "two") == "fine");
}
