// Production failures into an eval dataset: real traffic through the daemon into its trace store
// (an answer, an error, a denial, a flag, a low feedback score, the same failing question asked
// again in other words' spacing and case), then `outrigger eval capture`: the failures become
// dataset lines with their provenance, redacted and de-duplicated, and a second run adds nothing.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <outrigger/client.h>

#include "support/daemon_process.h"
#include "support/run_command.h"
#include "support/sdk_requests.h"

using namespace outrigger;
using namespace outrigger::testing;
using namespace std::chrono_literals;

namespace {

const char kFail[] = R"({"fail": {"code": "UNAVAILABLE", "retryable": false, "message": "upstream down"}})";

std::string captureConfig() {
  return basicConfig("mode = \"echo\"\nallow_request_overrides = true",
                     "[routes.cap]\nprovider = \"mock\"\nexporters = [\"traces\"]\ncapture = \"full\"\ncapture_denied = \"full\"\n"
                     "guardrails = [\"input_rules\", \"watch\"]\n"
                     "[instances.watch]\ntype = \"guardrail.rules\"\n[instances.watch.config]\nflag_patterns = ['(?i)refund']\n"
                     "[instances.traces]\ntype = \"exporter.sqlite\"\n[instances.traces.config]\n"
                     "path = \"@DIR@/traces.db\"\ncommit_interval_ms = 20\n");
}

client::ChatRequest on(const std::string& text, const std::string& mock = "") {
  client::ChatRequest r = ask(text, mock);
  r.model = "cap";
  return r;
}

std::vector<rapidjson::Document> readCases(const std::string& path) {
  std::vector<rapidjson::Document> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    out.emplace_back();
    out.back().Parse(line.c_str());
  }
  return out;
}

}  // namespace

TEST_CASE("eval capture: errors, denials, flags and low scores become redacted, de-duplicated cases with their provenance") {
  DaemonProcess d(captureConfig());
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  REQUIRE(c.chat(on("what is two plus two")).ok());
  REQUIRE_FALSE(c.chat(on("tell me about failures", kFail)).ok());
  REQUIRE_FALSE(c.chat(on("Tell me   ABOUT failures", kFail)).ok());  // the same case, spaced and cased otherwise
  REQUIRE_FALSE(c.chat(on("my ssn is 123-45-6789 and it fails", kFail)).ok());
  REQUIRE_FALSE(c.chat(on("say the forbidden phrase")).ok());
  auto flagged = c.chat(on("I want a refund"));
  REQUIRE(flagged.ok());
  auto disliked = c.chat(on("write me a haiku"));
  REQUIRE(disliked.ok());
  REQUIRE_FALSE(c.feedback(disliked.value().trace_id, 0.1, "not a haiku"));

  std::string dataset = d.dir() + "/captured.jsonl";
  std::string command = std::string(OUTRIGGER_BIN) + " eval capture " + dataset + " --db " + d.dir() +
                        "/traces.db --feedback-below 0.5 --redact '\\d{3}-\\d{2}-\\d{4}'";
  std::vector<rapidjson::Document> cases;
  for (int i = 0; i < 200; ++i) {  // the store commits on a timer
    std::remove(dataset.c_str());
    auto [status, out] = runCommand(command);
    REQUIRE(status == 0);
    cases = readCases(dataset);
    if (cases.size() >= 5) break;
    std::this_thread::sleep_for(25ms);
  }
  REQUIRE(cases.size() == 5);
  std::map<std::string, const rapidjson::Document*> by_reason;
  for (const auto& k : cases) {
    REQUIRE(k.IsObject());
    REQUIRE(k["messages"].IsArray());
    CHECK(std::string(k["tags"][0].GetString()) == "captured");
    const auto& md = k["metadata"];
    CHECK(std::string(md["trace_id"].GetString()).size() == 32);
    CHECK(std::string(md["route"].GetString()) == "cap");
    CHECK(std::string(md["time"].GetString()).size() == 20);
    std::string reason = md["reason"].GetString();
    by_reason[reason.substr(0, reason.find(':'))] = &k;
    std::string content = k["messages"][0]["content"].GetString();
    CHECK(content.find("123-45-6789") == std::string::npos);  // redacted
  }
  REQUIRE(by_reason.count("error"));
  REQUIRE(by_reason.count("deny"));
  REQUIRE(by_reason.count("flag"));
  REQUIRE(by_reason.count("feedback"));
  CHECK(std::string((*by_reason["deny"])["metadata"]["reason"].GetString()) == "deny:input_rules");
  CHECK(std::string((*by_reason["flag"])["metadata"]["reason"].GetString()) == "flag:watch");
  CHECK(std::string((*by_reason["feedback"])["metadata"]["reason"].GetString()) == "feedback:0.1");
  int errors = 0;
  for (const auto& k : cases) errors += std::string(k["metadata"]["reason"].GetString()) == "error:UNAVAILABLE";
  CHECK(errors == 2);  // the two spellings of one question are one case, the SSN one another

  // Run again: everything is in the dataset already.
  auto [status, out] = runCommand(command);
  CHECK(status == 0);
  CHECK(out.find("0 new cases") != std::string::npos);
  CHECK(readCases(dataset).size() == 5);

  // A dataset whose last line has no newline (written by hand): the first case appended joined
  // that line, so both were lost to the JSONL and the case was captured again on every run.
  std::string handwritten = d.dir() + "/handwritten.jsonl";
  { std::ofstream(handwritten) << R"({"id":"mine","messages":[{"role":"user","content":"hi"}]})"; }
  std::string only = std::string(OUTRIGGER_BIN) + " eval capture " + handwritten + " --db " + d.dir() +
                     "/traces.db --only errors,denials";  // the documented comma list
  auto [s1, o1] = runCommand(only);
  INFO(o1);
  REQUIRE(s1 == 0);
  std::vector<rapidjson::Document> lines = readCases(handwritten);
  REQUIRE(lines.size() == 4);  // the hand-written case, the two errors and the denial
  for (const auto& l : lines) CHECK(l.IsObject());
  CHECK(std::string(lines[0]["id"].GetString()) == "mine");
  auto [s2, o2] = runCommand(only);
  CHECK(s2 == 0);
  CHECK(o2.find("0 new cases") != std::string::npos);
  CHECK(readCases(handwritten).size() == 4);

  // --only picks feedback like the other kinds: left out, low scores are not captured; named
  // without a score to compare with, it is refused rather than capturing nothing.
  std::string errors_only = d.dir() + "/errors_only.jsonl";
  auto [s3, o3] = runCommand(std::string(OUTRIGGER_BIN) + " eval capture " + errors_only + " --db " + d.dir() +
                             "/traces.db --only errors --feedback-below 0.5");
  INFO(o3);
  REQUIRE(s3 == 0);
  std::vector<rapidjson::Document> error_cases = readCases(errors_only);
  CHECK(error_cases.size() == 3);  // the two failures and the denial's PERMISSION_DENIED, not the haiku
  for (const auto& k : error_cases) CHECK(std::string(k["metadata"]["reason"].GetString()).rfind("error:", 0) == 0);
  auto [s4, o4] = runCommand(std::string(OUTRIGGER_BIN) + " eval capture " + d.dir() + "/none.jsonl --db " + d.dir() +
                             "/traces.db --only feedback");
  CHECK(s4 == 2);
  CHECK(o4.find("--only feedback needs --feedback-below") != std::string::npos);
}
