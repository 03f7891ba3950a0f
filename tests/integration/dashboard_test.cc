// The admin dashboard in a real browser: the daemon serves traffic from two tenants on two routes
// whose mock providers name two models (a cache hit and a guardrail deny among it), then headless
// Chromium loads the page and the test reads what the page's script drew from the admin
// endpoints: trace rows, cost per tenant and model, verdict counts, the cache hit rate, breakers,
// budgets, alerts and one trace's span tree. A daemon with an admin token serves the page but
// no data until the reader gives the token.
//
// Its own executable, so that a machine without Chromium skips it (exit code 77) rather than
// failing; deploy/setup.sh --test installs Debian's chromium.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <thread>

#include <outrigger/client.h>

#include "support/admin_metrics.h"
#include "support/daemon_process.h"
#include "support/headless_chromium.h"
#include "support/raw_http.h"
#include "support/sdk_requests.h"

using namespace outrigger;
using namespace outrigger::testing;
using namespace std::chrono_literals;

namespace {

constexpr int kSkip = 77;
constexpr int kVirtualTimeMs = 8000;

// Two routes: "default" (mock, model mock-1, with a cache and a token budget per tenant) and
// "large" (instance big, model mock-large), both behind the deny-pattern guardrail; both models
// priced so costs are not 0, and an alert rule that fires for every tenant that spent anything.
// The cache's name has a quote and a backslash, which /metrics escapes and the page unescapes.
std::string dashboardConfig(const std::string& admin_extra = "") {
  return basicConfig("mode = \"echo\"",
                     R"(cache = "memo \"hot\" \\ 1")" "\nexporters = [\"traces\"]\nlimiters = [\"team\"]\n"
                     "[routes.large]\nguardrails = [\"input_rules\"]\nprovider = \"big\"\nexporters = [\"traces\"]\n"
                     "[instances.big]\ntype = \"provider.mock\"\n[instances.big.config]\nmodel = \"mock-large\"\n"
                     R"([instances."memo \"hot\" \\ 1"])" "\ntype = \"cache.memory\"\n"
                     "[instances.traces]\ntype = \"exporter.sqlite\"\n[instances.traces.config]\n"
                     "path = \"@DIR@/traces.db\"\ncommit_interval_ms = 20\n"
                     "[prices.\"mock/mock-1\"]\ninput = 0.001\noutput = 0.002\n"
                     "[prices.\"big/mock-large\"]\ninput = 0.01\noutput = 0.02\n"
                     "[instances.team]\ntype = \"limiter.budget\"\n[instances.team.config]\nwindow = \"daily\"\n"
                     "limit_tokens = 100000\nlimit_usd = 1000\n"
                     "[metrics]\ntenant_label = true\n"
                     "[alerts]\nevaluate_every_ms = 100\n"
                     "[[alerts.rules]]\nname = \"tenant_cost\"\nkind = \"cost\"\nthreshold = 0\n"
                     "[admin]\nlisten = \"127.0.0.1:0\"\n" + admin_extra);
}

client::ChatRequest askAs(const std::string& tenant, const std::string& route, const std::string& text) {
  client::ChatRequest r = ask(text);
  r.model = route;
  r.metadata = client::Metadata{};
  r.metadata->tenant = tenant;
  return r;
}

// The store commits on a timer: waits until /traces lists `n` requests.
bool waitForTraces(const DaemonProcess& d, size_t n) {
  for (int i = 0; i < 200; ++i) {
    auto reply = adminGet(d, "/traces?limit=100");
    size_t rows = 0;
    for (size_t at = reply.body.find("\"trace_id\""); at != std::string::npos; at = reply.body.find("\"trace_id\"", at + 1)) ++rows;
    if (reply.status == 200 && rows >= n) return true;
    std::this_thread::sleep_for(25ms);
  }
  return false;
}

// The markup of the panel whose content element has `id`, up to the end of its section.
std::string panel(const std::string& dom, const std::string& id) {
  size_t at = dom.find("id=\"" + id + "\"");
  if (at == std::string::npos) return "";
  size_t end = dom.find("</section>", at);
  return dom.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

// The legend entry of `series` in a chart panel: its cost and request count, or {-1, -1}.
std::pair<double, int> legend(const std::string& chart, const std::string& series) {
  std::smatch m;
  std::regex entry("<span data-series=\"" + series + "\" data-cost-usd=\"([^\"]+)\" data-requests=\"(\\d+)\">");
  if (!std::regex_search(chart, m, entry)) return {-1, -1};
  return {std::stod(m[1]), std::stoi(m[2])};
}

// The number in the element carrying `attribute`, or -1.
int numberAt(const std::string& html, const std::string& attribute) {
  std::smatch m;
  if (!std::regex_search(html, m, std::regex(attribute + "[^>]*>(\\d+)<"))) return -1;
  return std::stoi(m[1]);
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

// The response head of GET `path` (status line and headers, lowercase).
std::string headOf(int port, const std::string& path) {
  Tcp c(port);
  c.send("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string r = c.responses(1);
  std::string head = r.substr(0, r.find("\r\n\r\n"));
  for (char& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return head;
}

}  // namespace

TEST_CASE("dashboard: traces, cost by tenant and model, verdicts, cache, breakers and a span tree from real traffic") {
  DaemonProcess d(dashboardConfig());
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  std::map<std::string, double> tenant_cost, model_cost;
  std::vector<std::string> trace_ids;
  auto send = [&](const std::string& tenant, const std::string& route, const std::string& text) {
    auto answer = c.chat(askAs(tenant, route, text));
    REQUIRE(answer.ok());
    tenant_cost[tenant] += answer.value().cost_usd;
    model_cost[answer.value().model] += answer.value().cost_usd;
    trace_ids.push_back(answer.value().trace_id);
    return answer.value();
  };
  send("acme", "default", "hello there");
  CHECK(send("acme", "default", "hello there").cache_hit);
  std::string large_trace = send("acme", "large", "a big question here").trace_id;
  send("beta", "default", "beta says hi");
  send("beta", "large", "beta asks the large model");
  REQUIRE_FALSE(c.chat(askAs("beta", "default", "a forbidden phrase")).ok());
  REQUIRE(waitForTraces(d, 6));
  for (int i = 0; i < 100 && count(adminGet(d, "/alerts").body, "\"state\":\"firing\"") < 2; ++i) std::this_thread::sleep_for(20ms);
  REQUIRE(tenant_cost["acme"] > 0);
  REQUIRE(tenant_cost["beta"] > 0);
  REQUIRE(model_cost["mock-large"] > model_cost["mock-1"]);

  int port = adminPort(d);
  std::string head = headOf(port, "/");
  CHECK(head.find("http/1.1 200") == 0);
  CHECK(head.find("content-type: text/html; charset=utf-8") != std::string::npos);
  CHECK(head.find("cache-control: no-store") != std::string::npos);
  CHECK(head.find("content-security-policy: default-src 'none'; script-src 'sha256-") != std::string::npos);

  std::string screenshot = std::string(OUTRIGGER_DASHBOARD_SCREENSHOT);
  std::remove(screenshot.c_str());
  PageLoad page = loadPage("http://127.0.0.1:" + std::to_string(port) + "/#trace=" + large_trace, d.dir(),
                           kVirtualTimeMs, screenshot);
  INFO(page.log);
  REQUIRE(page.status == 0);
  const std::string& dom = page.dom;
  INFO(dom);

  // Every request is a row, newest first; the ones that answered carry the ids the SDK heard.
  std::string traces = panel(dom, "traces");
  CHECK(count(traces, "data-trace-id=\"") == 6);
  for (const std::string& id : trace_ids) CHECK(traces.find("data-trace-id=\"" + id + "\"") != std::string::npos);
  CHECK(traces.find("PERMISSION_DENIED") != std::string::npos);
  CHECK(traces.find("input_rules=deny") != std::string::npos);

  // Cost by tenant and by model: the legend's totals are what the answers said they cost.
  std::string by_tenant = panel(dom, "cost-by-tenant");
  CHECK(by_tenant.find("<rect") != std::string::npos);
  auto [acme_cost, acme_requests] = legend(by_tenant, "acme");
  auto [beta_cost, beta_requests] = legend(by_tenant, "beta");
  CHECK(acme_cost == Approx(tenant_cost["acme"]));
  CHECK(acme_requests == 3);
  CHECK(beta_cost == Approx(tenant_cost["beta"]));
  CHECK(beta_requests == 3);  // the denied one too
  std::string by_model = panel(dom, "cost-by-model");
  CHECK(legend(by_model, "mock-large").first == Approx(model_cost["mock-large"]));
  CHECK(legend(by_model, "mock-1").first == Approx(model_cost["mock-1"]));

  // Verdicts, cache and breakers come from /metrics, parsed by the page.
  std::string verdicts = panel(dom, "verdicts");
  CHECK(numberAt(verdicts, "data-verdict=\"input_rules/pass\"") == 5);
  CHECK(numberAt(verdicts, "data-verdict=\"input_rules/deny\"") == 1);
  std::string caches = panel(dom, "caches");
  CHECK(caches.find(R"(data-cache="memo &quot;hot&quot; \ 1" data-hits="1" data-misses="2")") != std::string::npos);
  CHECK(caches.find("33.3%") != std::string::npos);
  std::string breakers = panel(dom, "breakers");
  CHECK(std::regex_search(breakers, std::regex(R"(data-breaker-target="mock/\*">.*?data-state="closed")")));
  CHECK(std::regex_search(breakers, std::regex(R"(data-breaker-target="big/\*">.*?data-state="closed")")));
  // Budgets come from the budget plugin's own series: one row per tenant, as /metrics says.
  std::string budgets = panel(dom, "budgets");
  for (const char* tenant : {"acme", "beta"}) {
    double used = adminMetric(d, "outrigger_budget_used_ratio{plugin_instance=\"team\",key=\"" + std::string(tenant) + "\"}");
    CHECK(used > 0);
    std::smatch m;
    REQUIRE(std::regex_search(budgets, m, std::regex("data-budget=\"team/" + std::string(tenant) + "\".*?data-used-ratio=\"([^\"]+)\"")));
    CHECK(std::stod(m[1]) == Approx(used));
    // Both of the budget's limits, each with what is left of it: one was shown, as the other's.
    REQUIRE(std::regex_search(budgets, m, std::regex("data-budget=\"team/" + std::string(tenant) + "\"(.*?)</tr>")));
    CHECK(std::regex_search(std::string(m[1]), std::regex(R"(\$[0-9.]+ · [0-9]+ tokens<.*\$1,?000(\.0+)? · 100,?000 tokens<)")));
  }
  // The alert rule fired for both tenants: /alerts, drawn by the page.
  std::string alerts = panel(dom, "alerts");
  CHECK(count(alerts, "data-alert=\"tenant_cost\" data-state=\"firing\"") == 2);
  CHECK(alerts.find("tenant=acme") != std::string::npos);
  CHECK(alerts.find("tenant=beta") != std::string::npos);

  // The trace named in the address: its span tree with stages, instances, outcomes and verdicts.
  std::string detail = panel(dom, "trace-detail");
  CHECK(dom.find("id=\"trace-title\" class=\"mono\">" + large_trace + "<") != std::string::npos);
  CHECK(detail.find("data-stage=\"guardrail.request\" data-instance=\"input_rules\" data-outcome=\"continue\"") !=
        std::string::npos);
  CHECK(detail.find("data-stage=\"provider\" data-instance=\"big\" data-outcome=\"ok\"") != std::string::npos);
  CHECK(detail.find("data-verdict=\"input_rules/pass\"") != std::string::npos);
  CHECK(detail.find("tenant acme") != std::string::npos);
  CHECK(detail.find("model mock-large") != std::string::npos);

  std::ifstream png(screenshot, std::ios::binary);
  char magic[8] = {};
  png.read(magic, sizeof magic);
  CHECK(std::string(magic + 1, 3) == "PNG");
}

TEST_CASE("dashboard: with an admin token the page loads, asks for the token and shows no data") {
  DaemonProcess d(dashboardConfig("token = \"dashboard-secret\"\n"));
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  REQUIRE(c.chat(askAs("acme", "default", "hello there")).ok());
  int port = adminPort(d);
  CHECK(headOf(port, "/dashboard").find("http/1.1 200") == 0);
  CHECK(headOf(port, "/traces").find("http/1.1 401") == 0);

  PageLoad page = loadPage("http://127.0.0.1:" + std::to_string(port) + "/", d.dir(), kVirtualTimeMs);
  INFO(page.log);
  REQUIRE(page.status == 0);
  INFO(page.dom);
  CHECK(page.dom.find("<section id=\"token-panel\">") != std::string::npos);  // no longer hidden
  CHECK(page.dom.find("<main id=\"panels\" hidden=\"\">") != std::string::npos);
  CHECK(page.dom.find("admin token needed") != std::string::npos);
  CHECK(page.dom.find("data-trace-id=\"") == std::string::npos);
  CHECK(page.dom.find("acme") == std::string::npos);
}

int main(int argc, char** argv) {
  if (chromiumPath().empty()) {
    std::puts("SKIP: no chromium ($CHROMIUM, else chromium on PATH; Debian package chromium, which deploy/setup.sh --test installs)");
    return kSkip;
  }
  return Catch::Session().run(argc, argv);
}

TEST_CASE("dashboard: a link whose #trace= escape does not decode shows the data, selecting no trace") {
  DaemonProcess d(dashboardConfig(""));
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  auto answer = c.chat(askAs("acme", "default", "hello there"));
  REQUIRE(answer.ok());
  for (int i = 0; i < 200 && adminGet(d, "/traces").body.find(answer.value().trace_id) == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));  // the store commits on a timer
  }
  int port = adminPort(d);
  PageLoad page = loadPage("http://127.0.0.1:" + std::to_string(port) + "/#trace=%E0", d.dir(), kVirtualTimeMs);
  INFO(page.log);
  REQUIRE(page.status == 0);
  INFO(page.dom);
  CHECK(page.dom.find("data-trace-id=\"") != std::string::npos);  // the traces list was drawn
  CHECK(page.dom.find(">loading<") == std::string::npos);
}
