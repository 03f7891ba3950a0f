// The reports of a real run: JUnit XML read back by a JUnit reader, the Markdown summary, and
// the HTML report loaded in headless Chromium.
#include <catch2/catch.hpp>

#include "common/utf8.h"
#include "eval/judge.h"
#include "eval/reports.h"
#include "eval_fixture.h"
#include "support/headless_chromium.h"

using namespace outrigger::testing;

namespace {

// Two passing cases, one failing (a <failure>), one denied by the guardrail (an <error>), and
// a markup-laden id and answer that must be escaped.
const char* kCases = R"({"id": "ok-1", "prompt": "alpha", "expected": "alpha", "tags": ["plain"]}
{"id": "ok-2", "prompt": "beta", "expected": "beta", "tags": ["plain"]}
{"id": "wrong <&> \"case\"", "prompt": "<b>gamma</b> & co", "expected": "delta", "tags": ["markup"]}
{"id": "denied", "prompt": "a forbidden phrase", "expected": "x", "tags": ["plain"]}
)";

struct Run {
  int code;
  std::string out;
};

Run runWithReports(const DaemonProcess& d) {
  writeText(d.dir() + "/cases.jsonl", kCases);
  std::string eval = writeEvalFile(d, "reports", "cases.jsonl", "[[scorers]]\ntype = \"exact\"\n");
  std::string outputs = " --json " + d.dir() + "/r.json --junit " + d.dir() + "/r.junit.xml --markdown " + d.dir() +
                        "/r.md --html " + d.dir() + "/r.html";
  auto [code, out] = outriggerEval(d, "run " + eval + outputs);
  return {code, out};
}

}  // namespace

TEST_CASE("reports: JUnit XML read back by a JUnit reader has failures as failure and runtime errors as error") {
  DaemonProcess d(evalDaemonConfig());
  REQUIRE(evalDaemonReady(d));
  Run run = runWithReports(d);
  INFO(run.out);
  REQUIRE(run.code == 2);  // the denied case could not be evaluated
  auto [status, parsed] = runCommand("python3 " EVAL_TEST_DIR "/read_junit.py " + d.dir() + "/r.junit.xml");
  INFO(parsed);
  REQUIRE(status == 0);
  rapidjson::Document doc;
  doc.Parse(parsed.c_str());
  REQUIRE(doc.IsObject());
  CHECK(std::string(doc["suites"][0]["name"].GetString()) == "mock");
  CHECK(std::string(doc["suites"][0]["tests"].GetString()) == "4");
  CHECK(std::string(doc["suites"][0]["failures"].GetString()) == "1");
  CHECK(std::string(doc["suites"][0]["errors"].GetString()) == "1");
  REQUIRE(doc["failed"].HasMember("wrong <&> \"case\""));
  CHECK(std::string(doc["failed"]["wrong <&> \"case\""].GetString()).find("exact: expected \"delta\"") != std::string::npos);
  REQUIRE(doc["errored"].HasMember("denied"));
  CHECK(std::string(doc["errored"]["denied"].GetString()).find("PERMISSION_DENIED") != std::string::npos);
  CHECK(doc["passed"].Size() == 2);
}

TEST_CASE("reports: the Markdown summary has the target table, the tag table and why cases did not pass") {
  DaemonProcess d(evalDaemonConfig());
  REQUIRE(evalDaemonReady(d));
  Run run = runWithReports(d);
  INFO(run.out);
  std::string md = readText(d.dir() + "/r.md");
  INFO(md);
  CHECK(md.find("## Eval: reports — inconclusive") != std::string::npos);
  CHECK(md.find("| mock | 50.0% | 2 | 1 | 1 | - |") != std::string::npos);
  CHECK(md.find("| plain | 66.7% | 2/3 | - |") != std::string::npos);
  CHECK(md.find("| denied | error | no answer: PERMISSION_DENIED") != std::string::npos);
}

TEST_CASE("reports: the HTML report in headless Chromium shows the verdict, the charts and every case") {
  REQUIRE_FALSE(chromiumPath().empty());  // Debian chromium, installed by deploy/setup.sh --test
  DaemonProcess d(evalDaemonConfig());
  REQUIRE(evalDaemonReady(d));
  Run run = runWithReports(d);
  INFO(run.out);
  std::string html = readText(d.dir() + "/r.html");
  // Self-contained: nothing is fetched from anywhere.
  CHECK(html.find("src=") == std::string::npos);
  CHECK(html.find("href=") == std::string::npos);
  PageLoad page = loadPage("file://" + d.dir() + "/r.html", d.dir(), 2000);
  INFO(page.log);
  REQUIRE(page.status == 0);
  const std::string& dom = page.dom;
  CHECK(dom.find("data-ready=\"yes\"") != std::string::npos);  // the page's script ran
  CHECK(dom.find("data-verdict=\"inconclusive\"") != std::string::npos);
  CHECK(dom.find("<svg id=\"chart-pass-rate\"") != std::string::npos);
  CHECK(dom.find("data-label=\"mock\" data-value=\"0.5000\"") != std::string::npos);
  CHECK(dom.find("<svg id=\"chart-tags-0\"") != std::string::npos);
  CHECK(dom.find("data-label=\"plain\" data-value=\"0.6667\"") != std::string::npos);
  CHECK(dom.find("<svg id=\"chart-latency-0\"") != std::string::npos);
  CHECK(dom.find("<tr class=\"case pass\" data-case=\"ok-1\">") != std::string::npos);
  CHECK(dom.find("<tr class=\"case error\" data-case=\"denied\">") != std::string::npos);
  // The markup in an id and an answer shows as text, never as elements.
  CHECK(dom.find("data-case=\"wrong &lt;&amp;&gt; &quot;case&quot;\"") != std::string::npos);
  CHECK(dom.find("&lt;b&gt;gamma&lt;/b&gt; &amp; co") != std::string::npos);
  CHECK(dom.find("<b>gamma</b>") == std::string::npos);
}

// A command scorer's output or a judge's reply cut at byte 200 could end inside a character, and
// a lone byte that is not UTF-8 makes the whole JUnit file unreadable to an XML parser.
TEST_CASE("reports: text that is not UTF-8 is written with U+FFFD, and a judge's reply is cut between characters") {
  CHECK(outrigger::eval::escapeMarkup("caf\xC3 <ok>") == "caf\xEF\xBF\xBD &lt;ok&gt;");
  CHECK(outrigger::eval::escapeMarkup("\xFF\xFE") == "\xEF\xBF\xBD\xEF\xBF\xBD");
  std::string error;
  const std::string reply = std::string(199, 'x') + "\xC3\xA9 and no verdict";
  CHECK_FALSE(outrigger::eval::Judge::parseAnswer(reply, 0.5, &error));
  CHECK(outrigger::validUtf8(error));
  CHECK(error.find(std::string(199, 'x')) != std::string::npos);
}

TEST_CASE("judge: the first object with a score is read, whatever braces the text around it has") {
  std::string error;
  auto a = outrigger::eval::Judge::parseAnswer(R"(Verdict: {"score":0.2,"pass":false} The answer omits {order_id}.)", 0.5, &error);
  INFO(error);
  REQUIRE(a);
  CHECK(a->score == Approx(0.2));
  CHECK_FALSE(a->pass);
  auto b = outrigger::eval::Judge::parseAnswer(R"(Using {name}: {"score": 0.9, "reason": "ok"})", 0.5, &error);
  REQUIRE(b);
  CHECK(b->pass);
  CHECK(b->reason == "ok");
  CHECK_FALSE(outrigger::eval::Judge::parseAnswer("no object {at all}", 0.5, &error));
}
