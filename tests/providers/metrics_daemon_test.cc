// The admin /metrics endpoint of the real daemon counts resilience decisions and upstream
// transfers, summed over the workers.
#include <catch2/catch.hpp>

#include <curl/curl.h>

#include <cstdlib>
#include <regex>
#include <string>
#include <thread>

#include <outrigger/client.h>

#include "daemon_rig.h"
#include "support/daemon_process.h"
#include "support/sdk_requests.h"
#include "upstream_process.h"

using namespace outrigger;
using namespace outrigger::testing;
using namespace std::chrono_literals;

namespace {

size_t collect(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

std::string httpGet(const std::string& url) {
  std::string body;
  CURL* e = curl_easy_init();
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &collect);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &body);
  curl_easy_perform(e);
  curl_easy_cleanup(e);
  return body;
}

double metric(const std::string& text, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex("\n" + name + " ([0-9.e+-]+)\n"))) return -1;
  return std::stod(m[1]);
}

}  // namespace

TEST_CASE("metrics via daemon: retries, fallbacks and upstream transfers are counted on /metrics") {
  UpstreamProcess primary, backup;
  REQUIRE(primary.ready());
  REQUIRE(backup.ready());
  ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test", 1);
  DaemonProcess daemon(daemonHead() + openaiInstance("primary", primary.baseUrl()) +
                       openaiInstance("backup", backup.baseUrl()) +
                       "[admin]\nlisten = \"127.0.0.1:0\"\n"
                       "[routes.default]\nexporters = [\"records\"]\n"
                       "targets = [{ provider = \"primary\", model = \"gpt-a\" }, { provider = \"backup\", model = \"gpt-b\" }]\n"
                       "retry = { max_attempts = 2, base_backoff_ms = 1, max_backoff_ms = 5 }\n");
  REQUIRE(daemon.waitReady());
  int admin = 0;
  for (int i = 0; i < 500 && admin == 0; ++i) {
    std::smatch m;
    std::string log = daemon.log();
    if (std::regex_search(log, m, std::regex("admin endpoints listening on 127\\.0\\.0\\.1:(\\d+)"))) admin = std::stoi(m[1]);
    else std::this_thread::sleep_for(10ms);
  }
  REQUIRE(admin != 0);
  // The primary fails twice (a retry, then a fallback); the backup answers.
  REQUIRE(primary.script(R"([{"fault":"status","code":503,"repeat":2}])"));
  client::Client c(at(daemon));
  REQUIRE(c.chat(ask("count me")).ok());

  std::string text = httpGet("http://127.0.0.1:" + std::to_string(admin) + "/metrics");
  CHECK(metric(text, "outrigger_attempts_total") == 3);
  CHECK(metric(text, "outrigger_retries_total") == 1);
  CHECK(metric(text, "outrigger_fallbacks_total") == 1);
  CHECK(metric(text, "outrigger_give_ups_total") == 0);
  CHECK(metric(text, "outrigger_upstream_transfers_started_total") == 3);
  CHECK(metric(text, "outrigger_upstream_transfers_completed_total") == 3);  // a 503 is a whole response
  CHECK(metric(text, "outrigger_upstream_transfers_failed_total") == 0);
  CHECK(metric(text, "outrigger_upstream_connections_opened_total") == 2);  // one per upstream, reused
  CHECK(metric(text, "outrigger_hedges_total") == 0);
  CHECK(text.find("# TYPE outrigger_retries_total counter") != std::string::npos);
}
