// What the HTTP front tells an SDK about retrying, through the real daemon against the scripted
// upstream: after the sidecar spent its own retries, or with every breaker open, x-should-retry is
// false, so an SDK's default retries do not multiply upstream requests; upstream 429s are rate
// limiting, never opening a breaker, and a request whose every attempt was rate limited is a 429
// with the soonest retry time any target named.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <cstdlib>
#include <memory>
#include <regex>
#include <string>

#include "curl_call.h"
#include "daemon_rig.h"
#include "support/daemon_process.h"
#include "upstream_process.h"

using namespace outrigger;
using namespace outrigger::testing;

namespace {

// Two OpenAI targets on one scripted upstream, retried once each, with a breaker that opens on
// the second consecutive failure; the HTTP front and the admin server. An upstream retry-after
// longer than a second moves on to the next target instead of waiting.
struct Rig {
  UpstreamProcess upstream;
  std::unique_ptr<DaemonProcess> daemon;
  int http = 0, admin = 0;
  Rig() {
    REQUIRE(upstream.ready());
    ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test", 1);
    daemon = std::make_unique<DaemonProcess>(
        "[server]\nsocket = \"@SOCKET@\"\nworkers = 1\n[plugins]\ndirs = [\"@PLUGINS@\"]\n" +
        openaiInstance("a", upstream.baseUrl()) + openaiInstance("b", upstream.baseUrl()) +
        "[routes.default]\ntargets = [{ provider = \"a\", model = \"m-a\" }, { provider = \"b\", model = \"m-b\" }]\n"
        "retry = { max_attempts = 2, base_backoff_ms = 1, max_backoff_ms = 2, max_retry_after_ms = 1000 }\n"
        "breaker = { failure_threshold = 2, open_ms = 30000 }\n"
        "[http]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n");
    REQUIRE(daemon->waitReady());
    http = boundPort(*daemon, "OpenAI-compatible API");
    admin = boundPort(*daemon, "admin endpoints");
    REQUIRE(http != 0);
  }
  CurlReply chat() {
    return curlCall("http://127.0.0.1:" + std::to_string(http) + "/v1/chat/completions",
                    R"({"model":"default","messages":[{"role":"user","content":"hi"}]})");
  }
  size_t upstreamRequests() {
    rapidjson::Document log = parseJson(upstream.log());
    return log.IsArray() ? log.Size() : 0;
  }
  std::string header(const CurlReply& r, const std::string& name) {
    std::smatch m;
    return std::regex_search(r.head, m, std::regex(name + ": ([^\r\n]*)", std::regex::icase)) ? m[1].str() : "";
  }
};

}  // namespace

TEST_CASE("retry hints via daemon: spent retries and open breakers say x-should-retry false, and no more reaches the upstream") {
  Rig rig;
  REQUIRE(rig.upstream.script(R"([{"fault":"status","code":503,"repeat":100}])"));
  CurlReply first = rig.chat();
  CHECK(first.status == 503);
  CHECK(rig.header(first, "x-should-retry") == "false");  // four attempts upstream already
  CHECK(rig.upstreamRequests() == 4);                      // two targets, two attempts each

  // Both breakers are open now: answered at once, still not worth an SDK retry.
  CurlReply second = rig.chat();
  CHECK(second.status == 503);
  CHECK(rig.header(second, "x-should-retry") == "false");
  CHECK_FALSE(rig.header(second, "retry-after").empty());  // the soonest re-open: real
  CHECK(rig.upstreamRequests() == 4);
}

TEST_CASE("retry hints via daemon: upstream 429s never open a breaker, and all-429 is a 429 with the soonest retry time") {
  Rig rig;
  // Target a says come back in 2 s, target b (tried last) in 4 s, on every attempt.
  REQUIRE(rig.upstream.script(
      R"([{"fault":"status","code":429,"headers":{"retry-after":"2"}},{"fault":"status","code":429,"headers":{"retry-after":"4"}},)"
      R"({"fault":"status","code":429,"headers":{"retry-after":"2"}},{"fault":"status","code":429,"headers":{"retry-after":"4"}},)"
      R"({"fault":"status","code":429,"headers":{"retry-after":"2"}},{"fault":"status","code":429,"headers":{"retry-after":"4"}}])"));
  for (int i = 0; i < 3; ++i) {
    INFO("call " << i);
    CurlReply r = rig.chat();
    CHECK(r.status == 429);
    CHECK(rig.header(r, "retry-after-ms") == "2000");  // a's, the soonest, not the last one's
    CHECK(rig.header(r, "x-should-retry") == "true");  // a real time to come back
  }
  // Each call tried each target once (a retry-after past max_retry_after_ms moves on rather than
  // waiting), and the breakers, with a threshold of two, never opened.
  CHECK(rig.upstreamRequests() == 6);
  std::string metrics = curlCall("http://127.0.0.1:" + std::to_string(rig.admin) + "/metrics").body;
  CHECK(metrics.find("outrigger_breaker_state{target=\"a/m-a\"} 0") != std::string::npos);
  CHECK(metrics.find("outrigger_breaker_state{target=\"b/m-b\"} 0") != std::string::npos);
  CurlReply ok = rig.chat();  // the script is used up: the upstream answers again
  CHECK(ok.status == 200);
}
