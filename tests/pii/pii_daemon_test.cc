// guardrail.pii in the real daemon, as a process, on both fronts: what the provider sees (the
// mock echoes it), what the caller gets unary and streamed, the verdict in the response and the
// record, deny, fail closed through an injected scanner failure, reversible placeholders, hot
// reload, tool-call arguments (in the answer and in the conversation) and the plugin's metrics.
#include <catch2/catch.hpp>

#include <signal.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include <outrigger/client.h>
#include <rapidjson/document.h>

#include "support/admin_metrics.h"
#include "outrigger_generated.h"
#include "support/daemon_process.h"
#include "support/frames.h"
#include "support/raw_http.h"
#include "support/sdk_requests.h"

using namespace outrigger;
using namespace outrigger::testing;
using client::StatusCode;
using namespace std::chrono_literals;

namespace {

const char kPrompt[] = "Mail jane.roe@example.com or call 415-555-2671 about card 4111 1111 1111 1111.";
const char kRedacted[] = "Mail <EMAIL_1> or call <PHONE_1> about card <CREDIT_CARD_1>.";
// An answer of the provider's own, with data the caller never sent.
const char kAnswer[] = "Your advisor is bob.smith@corp.example (phone +44 20 7946 0958); IBAN GB82 WEST 1234 5698 7654 32.";
const char kAnswerRedacted[] = "Your advisor is <EMAIL_1> (phone <PHONE_1>); IBAN <IBAN_1>.";

// The mock echoes the prompt as the provider got it; the pii guardrail with `pii_config`; an HTTP
// front, an admin listener, and a JSONL record of every request with its full content.
std::string piiConfig(const std::string& pii_config) {
  return "[server]\nsocket = \"@SOCKET@\"\nworkers = 2\n"
         "[plugins]\ndirs = [\"@PLUGINS@\"]\n"
         "[instances.mock]\ntype = \"provider.mock\"\n[instances.mock.config]\nmode = \"echo\"\nallow_request_overrides = true\n"
         "[instances.pii]\ntype = \"guardrail.pii\"\n[instances.pii.config]\n" + pii_config + "\n"
         "[instances.log]\ntype = \"exporter.jsonl\"\n[instances.log.config]\npath = \"@DIR@/records.jsonl\"\n"
         "[routes.default]\nguardrails = [\"pii\"]\nprovider = \"mock\"\nexporters = [\"log\"]\ncapture = \"full\"\n"
         "[http]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n";
}

std::string mockText(const std::string& text, int chunks) {
  return R"({"text": ")" + text + R"(", "chunks": )" + std::to_string(chunks) + "}";
}

const client::Verdict* verdictOf(const client::Response& r) {
  for (const auto& v : r.verdicts) {
    if (v.guardrail == "pii") return &v;
  }
  return nullptr;
}

// The streamed answer, joined, and whether any chunk carried `secret`.
std::string streamJoined(client::Client& c, const client::ChatRequest& req, std::optional<client::Result<client::Response>>* end,
                         const std::string& secret = "") {
  auto s = c.stream(req);
  std::string joined;
  client::Chunk chunk;
  while (s.next(&chunk)) {
    if (!secret.empty()) CHECK(chunk.delta.find(secret) == std::string::npos);
    joined += chunk.delta;
  }
  end->emplace(s.result());
  return joined;
}

std::string chatBody(const std::string& text, bool stream, const std::string& mock = "") {
  return R"({"model":"default","stream":)" + std::string(stream ? "true" : "false") +
         R"(,"messages":[{"role":"user","content":")" + text + "\"}]" + (mock.empty() ? "" : ",\"mock\":" + mock) + "}";
}

// The text of an SSE chat completion stream: every delta's content, joined.
std::string sseContent(const std::string& body) {
  std::string out;
  const std::string key = "\"content\":\"";
  for (size_t at = body.find(key); at != std::string::npos; at = body.find(key, at)) {
    at += key.size();
    size_t end = body.find('"', at);
    out += body.substr(at, end - at);
  }
  return out;
}

}  // namespace

TEST_CASE("socket: the provider sees placeholders, the verdict is in the response and the record") {
  DaemonProcess d(piiConfig("action = \"redact\""));
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  auto r = c.chat(ask(kPrompt));
  REQUIRE(r.ok());
  CHECK(r.value().content == kRedacted);  // the echo: what the provider was sent
  const client::Verdict* v = verdictOf(r.value());
  REQUIRE(v);
  CHECK(v->verdict == 3);  // rewrite
  CHECK(v->reason.find("EMAIL") != std::string::npos);
  CHECK(v->reason.find("jane") == std::string::npos);  // types and counts, never values
  std::string rec = awaitRecords(d, 1);
  CHECK(rec.find(R"("guardrail":"pii","verdict":"rewrite")") != std::string::npos);
  CHECK(rec.find("jane.roe") == std::string::npos);
  CHECK(rec.find("<EMAIL_1>") != std::string::npos);
}

TEST_CASE("socket: the provider's answer is redacted the same, unary and streamed") {
  DaemonProcess d(piiConfig("scan_request = false"));
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  auto unary = c.chat(ask("hi", mockText(kAnswer, 1)));
  REQUIRE(unary.ok());
  CHECK(unary.value().content == kAnswerRedacted);
  REQUIRE(verdictOf(unary.value()));
  CHECK(verdictOf(unary.value())->verdict == 3);
  for (int chunks : {1, 3, 7, 19, 40}) {
    INFO(chunks);
    std::optional<client::Result<client::Response>> end;
    std::string joined = streamJoined(c, ask("hi", mockText(kAnswer, chunks)), &end, "bob.smith");
    REQUIRE(end->ok());
    CHECK(joined == kAnswerRedacted);
    CHECK(end->value().content == kAnswerRedacted);
    REQUIRE(verdictOf(end->value()));
    CHECK(verdictOf(end->value())->verdict == 3);
  }
}

TEST_CASE("socket: what the guardrail holds back never pauses the stream it must release from") {
  // An unterminated key block is held back as far as the block could reach, more than the
  // connection's 8 KB watermark. Counting held bytes as unwritten output paused the provider at the
  // first release, and nothing could release again: the stream stalled until its deadline.
  std::string config = piiConfig("scan_request = false");
  config.replace(config.find("workers = 2\n"), 12, "workers = 2\nwrite_queue_high_water = 8192\n");
  DaemonProcess d(config);
  REQUIRE(d.waitReady());
  std::string body;
  while (body.size() < 40000) body += "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo";
  const std::string answer = "-----BEGIN PRIVATE KEY-----" + body;
  client::Client c(at(d));
  client::ChatRequest req = ask("hi", R"({"text": ")" + answer + R"(", "chunks": 40, "chunk_interval_ms": 5})");
  req.timeout = std::chrono::milliseconds(10000);
  std::optional<client::Result<client::Response>> end;
  std::string joined = streamJoined(c, req, &end);
  REQUIRE(end->ok());
  CHECK(joined == answer);  // no END line: not a key, released as it was
}

TEST_CASE("socket: reversible placeholders give the caller its values back, streamed too") {
  DaemonProcess d(piiConfig("reversible = true"));
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  auto r = c.chat(ask(kPrompt));
  REQUIRE(r.ok());
  CHECK(r.value().content == kPrompt);  // the echo of placeholders, restored
  std::optional<client::Result<client::Response>> end;
  CHECK(streamJoined(c, ask(kPrompt, R"({"chunks": 9})"), &end) == kPrompt);
  REQUIRE(end->ok());
  // The provider saw placeholders only: the record's prompt is what it was sent, and the
  // answers, which hold the caller's values again, are not kept (unary and streamed).
  std::string rec = awaitRecords(d, 2);
  CHECK(rec.find(R"("content":"Mail <EMAIL_1> or call <PHONE_1>)") != std::string::npos);
  CHECK(rec.find("jane.roe") == std::string::npos);
  CHECK(rec.find("4111 1111") == std::string::npos);
}

TEST_CASE("socket: an answer holding one caller's restored values is never cached for another's same redacted prompt") {
  std::string config = piiConfig("reversible = true");
  const std::string capture = "capture = \"full\"\n";
  config.replace(config.find(capture), capture.size(), capture + "cache = \"mem\"\n");
  config += "[instances.mem]\ntype = \"cache.memory\"\n";
  DaemonProcess d(config);
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  auto gina = c.chat(ask("Write to gina@example.com today"));
  REQUIRE(gina.ok());
  CHECK(gina.value().content == "Write to gina@example.com today");
  // Both prompts reach the provider as "Write to <EMAIL_1> today": the same cache key.
  auto hank = c.chat(ask("Write to hank@other.org today"));
  REQUIRE(hank.ok());
  CHECK(hank.value().content == "Write to hank@other.org today");
  CHECK_FALSE(hank.value().cache_hit);
}

TEST_CASE("socket: a deny action ends the request PERMISSION_DENIED naming the entity, not the value") {
  DaemonProcess d(piiConfig("actions = { us_ssn = \"deny\" }"));
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  auto r = c.chat(ask("my ssn is 536-22-1234"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == StatusCode::kPermissionDenied);
  CHECK(r.error().origin == "guardrail/pii");
  CHECK(r.error().message.find("US_SSN") != std::string::npos);
  CHECK(r.error().message.find("536") == std::string::npos);
  // In an answer, mid-stream: the stream ends denied before the number goes out.
  std::optional<client::Result<client::Response>> end;
  std::string joined = streamJoined(c, ask("hi", mockText("ok so the ssn is 536-22-1234 as asked", 6)), &end, "536-22");
  REQUIRE_FALSE(end->ok());
  CHECK(end->error().code == StatusCode::kPermissionDenied);
  // Unary, in the answer: denied on the way back, after the request's e-mail was redacted. The
  // deny is the guardrail's verdict, not the rewrite before it.
  auto answered = c.chat(ask("mail jane.roe@example.com", mockText("the ssn is 536-22-1234", 1)));
  REQUIRE_FALSE(answered.ok());
  REQUIRE(answered.error().verdicts.size() == 1);
  CHECK(answered.error().verdicts[0].verdict == 2);  // deny
  // The denied prompt keeps its shape, the denied answer nothing: no record holds the number,
  // and each says the guardrail denied.
  std::string rec = awaitRecords(d, 3);
  CHECK(rec.find("536-22") == std::string::npos);
  CHECK(rec.find(R"("role":"user")") != std::string::npos);
  CHECK(rec.find(R"("guardrail":"pii","verdict":"deny")") != std::string::npos);
}

TEST_CASE("socket: a failing detector denies, unary and streamed, never passes the text") {
  DaemonProcess d(piiConfig("fail_scans_for_test = true"));
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  auto r = c.chat(ask(kPrompt));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == StatusCode::kPermissionDenied);
  CHECK(r.error().message.find("PII detection failed") != std::string::npos);
  CHECK(r.error().message.find("vectorscan error") != std::string::npos);
  std::optional<client::Result<client::Response>> end;
  streamJoined(c, ask(kPrompt, R"({"chunks": 3})"), &end, "jane");
  REQUIRE_FALSE(end->ok());
  CHECK(end->error().code == StatusCode::kPermissionDenied);
}

TEST_CASE("socket: with on_detector_error = redact_all a failing detector sends nothing of the text") {
  DaemonProcess d(piiConfig("fail_scans_for_test = true\non_detector_error = \"redact_all\""));
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  auto r = c.chat(ask(kPrompt));
  REQUIRE(r.ok());
  CHECK(r.value().content == "<REDACTED>");
  std::optional<client::Result<client::Response>> end;
  CHECK(streamJoined(c, ask(kPrompt, R"({"chunks": 4})"), &end) == "<REDACTED>");
  REQUIRE(end->ok());
}

TEST_CASE("http: chat completions are redacted unary and streamed, deny is 403, metrics count detections") {
  DaemonProcess d(piiConfig("scan_request = false\nactions = { private_key = \"deny\" }"));
  REQUIRE(d.waitReady());
  const int port = httpPort(d);
  REQUIRE(port > 0);
  HttpReply unary = roundTrip(port, post(chatBody("hi", false, mockText(kAnswer, 1))));
  CHECK(unary.status == 200);
  CHECK(unary.body.find(kAnswerRedacted) != std::string::npos);
  CHECK(unary.body.find("bob.smith") == std::string::npos);

  Tcp s(port);
  REQUIRE(s.send(post(chatBody("hi", true, mockText(kAnswer, 11)))));
  std::string sse = s.readUntil([](const std::string& t) { return t.find("[DONE]") != std::string::npos; }, 10s);
  CHECK(sse.find("bob.smith") == std::string::npos);
  CHECK(sseContent(sse) == kAnswerRedacted);

  HttpReply denied = roundTrip(port, post(chatBody("hi", false, mockText("-----BEGIN PRIVATE KEY-----\\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEA\\n-----END PRIVATE KEY-----", 1))));
  CHECK(denied.status == 403);
  CHECK(denied.body.find("PRIVATE_KEY") != std::string::npos);

  std::string metrics = adminMetricsText(d);
  CHECK(metrics.find(R"(outrigger_pii_detections_total{plugin_instance="pii",entity="email",side="response"})") != std::string::npos);
  CHECK(metrics.find("outrigger_pii_denials_total") != std::string::npos);
}

TEST_CASE("http: the request is redacted before the provider, and a failing detector is 403") {
  DaemonProcess d(piiConfig("fail_scans_for_test = false"));
  REQUIRE(d.waitReady());
  const int port = httpPort(d);
  REQUIRE(port > 0);
  HttpReply r = roundTrip(port, post(chatBody(kPrompt, false)));
  CHECK(r.status == 200);
  CHECK(r.body.find(kRedacted) != std::string::npos);
  // Hot reload: the new config's scanner fails, so requests are denied.
  d.writeConfig(piiConfig("fail_scans_for_test = true"));
  d.signal(SIGHUP);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (d.log().find("config generation 2 is live") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  REQUIRE(d.log().find("config generation 2 is live") != std::string::npos);
  HttpReply failed = roundTrip(port, post(chatBody(kPrompt, false)));
  CHECK(failed.status == 403);
  CHECK(failed.body.find("PII detection failed") != std::string::npos);
  CHECK(failed.body.find("jane") == std::string::npos);
  Tcp s(port);
  REQUIRE(s.send(post(chatBody(kPrompt, true))));
  std::string sse = s.readUntil([](const std::string& t) { return t.find("\r\n0\r\n\r\n") != std::string::npos || t.find("[DONE]") != std::string::npos; }, 5s);
  CHECK(sse.find("jane") == std::string::npos);
  CHECK(sse.find("403") != std::string::npos);
}

TEST_CASE("http: tool-call arguments are redacted in the answer, and reversible mode gives the tool the caller's values") {
  const std::string call = R"({"tool_calls":[{"id":"c1","name":"send_mail","arguments":"{\"to\":\"bob.smith@corp.example\",\"card\":\"4111 1111 1111 1111\"}"}]})";
  {
    DaemonProcess d(piiConfig(""));
    REQUIRE(d.waitReady());
    HttpReply r = roundTrip(httpPort(d), post(chatBody("Mail Bob", false, call)));
    INFO(r.body);
    CHECK(r.status == 200);
    CHECK(r.body.find("send_mail") != std::string::npos);
    CHECK(r.body.find("bob.smith") == std::string::npos);
    CHECK(r.body.find("4111") == std::string::npos);
    CHECK(r.body.find(R"(\"to\":\"<EMAIL_1>\")") != std::string::npos);
    CHECK(r.body.find(R"(\"card\":\"<CREDIT_CARD_1>\")") != std::string::npos);
  }
  {
    // The provider saw <EMAIL_1> for the caller's address and calls a tool with it: the tool
    // (the caller's code) gets the address back.
    DaemonProcess d(piiConfig("reversible = true"));
    REQUIRE(d.waitReady());
    const std::string placeholder_call = R"({"tool_calls":[{"id":"c1","name":"send_mail","arguments":"{\"to\":\"<EMAIL_1>\"}"}]})";
    HttpReply r = roundTrip(httpPort(d), post(chatBody("Write to jane.roe@example.com please", false, placeholder_call)));
    CHECK(r.status == 200);
    CHECK(r.body.find(R"(\"to\":\"jane.roe@example.com\")") != std::string::npos);
    CHECK(r.body.find("EMAIL_1") == std::string::npos);
  }
  {
    // A failing detector withholds the arguments too.
    DaemonProcess d(piiConfig("fail_scans_for_test = true\non_detector_error = \"redact_all\""));
    REQUIRE(d.waitReady());
    HttpReply r = roundTrip(httpPort(d), post(chatBody("Mail Bob", false, call)));
    INFO(r.body);
    CHECK(r.body.find("bob.smith") == std::string::npos);
  }
}

// Arguments were redacted as raw JSON text: the escape before an address lost its letter to
// the match, leaving invalid JSON (and the Anthropic front then sent `"input": {}`).
TEST_CASE("http: tool-call arguments with JSON escapes stay valid JSON when redacted, on both fronts") {
  const std::string call =
      R"({"tool_calls":[{"id":"c1","name":"send_mail","arguments":"{\"body\":\"Hi,\\njohn.doe@example.com\\tok\"}"}]})";
  DaemonProcess d(piiConfig(""));
  REQUIRE(d.waitReady());
  HttpReply chat = roundTrip(httpPort(d), post(chatBody("Mail Bob", false, call)));
  INFO(chat.body);
  REQUIRE(chat.status == 200);
  rapidjson::Document answer;
  answer.Parse(chat.body.c_str());
  REQUIRE(answer.IsObject());
  const auto& calls = answer["choices"][0]["message"]["tool_calls"];
  REQUIRE(calls.Size() == 1);
  rapidjson::Document arguments;
  arguments.Parse(calls[0]["function"]["arguments"].GetString());
  REQUIRE(arguments.IsObject());
  CHECK(std::string(arguments["body"].GetString()) == "Hi,\n<EMAIL_1>\tok");

  const std::string messages = R"({"model":"default","max_tokens":100,"messages":[{"role":"user","content":"Mail Bob"}],"mock":)" + call + "}";
  HttpReply anthropic = roundTrip(httpPort(d), post(messages, "/v1/messages"));
  INFO(anthropic.body);
  REQUIRE(anthropic.status == 200);
  rapidjson::Document message;
  message.Parse(anthropic.body.c_str());
  REQUIRE(message.IsObject());
  const auto& content = message["content"];
  bool found = false;
  for (const auto& block : content.GetArray()) {
    if (std::string(block["type"].GetString()) != "tool_use") continue;
    found = true;
    REQUIRE(block["input"].HasMember("body"));
    CHECK(std::string(block["input"]["body"].GetString()) == "Hi,\n<EMAIL_1>\tok");
  }
  CHECK(found);
}

// Scanned value by value, a bare SSN or AWS secret lost the key that is its context, and went
// out; JSON RapidJSON cannot read (1e400) was redacted as text into invalid JSON.
TEST_CASE("http: JSON arguments are scanned with their keys as context, and unreadable JSON never goes out broken") {
  DaemonProcess d(piiConfig("scan_request = false"));
  REQUIRE(d.waitReady());
  auto argumentsOf = [&](const std::string& arguments_json) {
    const std::string call = R"({"tool_calls":[{"id":"c1","name":"f","arguments":)" + arguments_json + "}]}";
    HttpReply r = roundTrip(httpPort(d), post(chatBody("hi", false, call)));
    INFO(r.body);
    REQUIRE(r.status == 200);
    rapidjson::Document answer;
    answer.Parse(r.body.c_str());
    REQUIRE(answer.IsObject());
    return std::string(answer["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"].GetString());
  };
  CHECK(argumentsOf(R"("{\"ssn\": \"536224781\"}")") == R"({"ssn":"<US_SSN_1>"})");
  CHECK(argumentsOf(R"("{\"aws_secret_access_key\": \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"}")") ==
        R"({"aws_secret_access_key":"<AWS_SECRET_KEY_1>"})");
  CHECK(argumentsOf(R"("{\"ids\": [\"x\", 4111111111111111]}")") == R"({"ids":["x","<CREDIT_CARD_1>"]})");
  // The key is context as the words before a value in a message are: "order" lowers a number
  // that looks like a phone number, as "order 4155552671" does in text.
  CHECK(argumentsOf(R"("{\"order_id\": \"4155552671\"}")") == R"({"order_id": "4155552671"})");
  CHECK(argumentsOf(R"("{\"phone\": \"4155552671\"}")") == R"({"phone":"<PHONE_1>"})");
  // Only the end of a long key is context: the SSN under "...ssn" is found all the same.
  const std::string long_key = std::string(3000, 'k') + "_ssn";
  CHECK(argumentsOf("\"{\\\"" + long_key + "\\\": \\\"536224781\\\"}\"") == "{\"" + long_key + "\":\"<US_SSN_1>\"}");
  // Text that reads as several JSON numbers is text: the card, the phone number and the SSN it is.
  CHECK(argumentsOf(R"("4111 1111 1111 1111")") == "<CREDIT_CARD_1>");
  CHECK(argumentsOf(R"("415-555-2671")") == "<PHONE_1>");
  CHECK(argumentsOf(R"("ssn 536-22-4781")") == "ssn <US_SSN_1>");
  // Several values (JSON lines, objects back to back): each rewritten, the space between kept.
  CHECK(argumentsOf(R"("{\"a\":\"jane@corp.example\"}{\"b\":1}")") == R"({"a":"<EMAIL_1>"}{"b":1})");
  CHECK(argumentsOf(R"("{\"a\":1}\n{\"b\":\"Hi,\\njane@corp.example\"}")") == "{\"a\":1}\n{\"b\":\"Hi,\\n<EMAIL_1>\"}");
  // Text: redacted as text. Text that starts as JSON and is not (cut short), with something to
  // redact: nothing of it, rather than an escape broken by the redaction.
  CHECK(argumentsOf(R"("urgent: mail jane@corp.example")") == "urgent: mail <EMAIL_1>");
  CHECK(argumentsOf(R"("{\"body\": \"Hi,\\njane@corp.example")") == "{}");
  // A lone low surrogate escape RapidJSON decodes to bytes that are not UTF-8: withheld when
  // anything is redacted, passed as it came when nothing is.
  CHECK(argumentsOf(R"("{\"a\":\"\\udc00\",\"b\":\"jane@corp.example\"}")") == "{}");
  CHECK(argumentsOf(R"("{\"a\":\"\\udc00\"}")") == R"({"a":"\udc00"})");
  // Valid JSON, but a number past a double's range: nothing of it rather than broken JSON.
  CHECK(argumentsOf(R"("{\"body\": \"Hi,\\njane@corp.example\", \"n\": 1e400}")") == "{}");
  // The same with nothing to redact passes as it came.
  CHECK(argumentsOf(R"("{\"n\": 1e400}")") == R"({"n": 1e400})");
}

// A release point inside a 3- or 4-byte character was refused by the host as not UTF-8, and
// the stream failed: any streamed answer with an emoji, a euro sign or CJK text.
TEST_CASE("socket: a streamed answer with multi-byte characters, one a chunk, is redacted whole") {
  DaemonProcess d(piiConfig("scan_request = false"));
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  const std::string text = "ok \xF0\x9F\x91\x8D fine, 5\xE2\x82\xAC to bob.smith@corp.example \xE6\x97\xA5\xE6\x9C\xAC end";
  const std::string redacted = "ok \xF0\x9F\x91\x8D fine, 5\xE2\x82\xAC to <EMAIL_1> \xE6\x97\xA5\xE6\x9C\xAC end";
  for (int chunks : {7, 40}) {
    INFO(chunks);
    std::optional<client::Result<client::Response>> end;
    std::string joined = streamJoined(c, ask("hi", mockText(text, chunks)), &end, "bob.smith");
    REQUIRE(end->ok());
    CHECK(joined == redacted);
  }
}

TEST_CASE("socket: tool-call arguments in the conversation reach the provider redacted") {
  DaemonProcess d(piiConfig(""));
  REQUIRE(d.waitReady());
  RequestSpec spec;
  spec.messages = {{"user", "Who wrote to me?"}};
  spec.tool_call_arguments = R"({"from":"jane.roe@example.com"})";
  RawConnection raw(d.socket());
  REQUIRE(raw.send(helloFrame()));
  REQUIRE(raw.readFrame());
  REQUIRE(raw.send(requestFrame(1, spec)));
  while (auto f = raw.readFrame(std::chrono::seconds(10))) {
    if (wire::GetSizePrefixedFrame(f->data())->body_type() == wire::Body::ResponseEnd) break;
  }
  // The record's prompt is what the provider was sent.
  std::string rec = awaitRecords(d, 1);
  INFO(rec);
  CHECK(rec.find("jane.roe") == std::string::npos);
  CHECK(rec.find("<EMAIL_1>") != std::string::npos);
}

TEST_CASE("http: a streamed answer's tool calls are held and sent whole, redacted, and reversible gives the values back") {
  const std::string call = R"({"chunks":4,"tool_calls":[{"id":"c1","name":"send_mail","arguments":"{\"to\":\"bob.smith@corp.example\",\"note\":\"call 415-555-2671\"}"}]})";
  auto sse = [](int port, const std::string& body) {
    Tcp s(port);
    REQUIRE(s.send(post(body)));
    return s.readUntil([](const std::string& t) { return t.find("[DONE]") != std::string::npos; }, 10s);
  };
  {
    DaemonProcess d(piiConfig(""));
    REQUIRE(d.waitReady());
    std::string body = sse(httpPort(d), chatBody("Mail Bob", true, call));
    INFO(body);
    CHECK(body.find("send_mail") != std::string::npos);
    CHECK(body.find("bob.smith") == std::string::npos);
    CHECK(body.find("2671") == std::string::npos);
    CHECK(body.find(R"(\"to\":\"<EMAIL_1>\")") != std::string::npos);
    std::string rec = awaitRecords(d, 1);
    CHECK(rec.find("bob.smith") == std::string::npos);
  }
  {
    DaemonProcess d(piiConfig("reversible = true"));
    REQUIRE(d.waitReady());
    const std::string placeholder_call = R"({"chunks":3,"tool_calls":[{"id":"c1","name":"send_mail","arguments":"{\"to\":\"<EMAIL_1>\"}"}]})";
    std::string body = sse(httpPort(d), chatBody("Write to jane.roe@example.com please", true, placeholder_call));
    INFO(body);
    CHECK(body.find(R"(\"to\":\"jane.roe@example.com\")") != std::string::npos);
    CHECK(body.find("EMAIL_1") == std::string::npos);
  }
}
