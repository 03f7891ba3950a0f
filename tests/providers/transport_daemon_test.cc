// The host HTTP client's transport through the real daemon: proxies from the environment
// (http_proxy, HTTPS_PROXY, no_proxy, read by libcurl), TLS verification with a configured CA
// file, and HTTP/2 negotiated by ALPN with a server that offers it.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include <outrigger/client.h>

#include "daemon_rig.h"
#include "support/daemon_process.h"
#include "support/sdk_requests.h"
#include "upstream_process.h"

using namespace outrigger;
using namespace outrigger::testing;
using client::StatusCode;

namespace {

// A self-signed certificate for 127.0.0.1 (its own CA): cert.pem, and server.pem with the key.
struct SelfSigned {
  std::string dir = makeTempDir();
  std::string cert = dir + "/cert.pem";
  std::string server = dir + "/server.pem";
  bool ok = false;
  SelfSigned() {
    std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1"
                      " -days 1 -keyout " + dir + "/key.pem -out " + cert + " >/dev/null 2>&1 && cat " + cert + " " +
                      dir + "/key.pem > " + server;
    ok = std::system(cmd.c_str()) == 0;
  }
  ~SelfSigned() { outrigger::testing::removeTempDir(dir); }
};

// Sets environment variables for a daemon started while this lives (the child inherits them);
// the test process's own control requests run without them.
class ScopedEnv {
 public:
  explicit ScopedEnv(std::vector<std::pair<std::string, std::string>> vars) : vars_(std::move(vars)) {
    for (auto& [k, v] : vars_) ::setenv(k.c_str(), v.c_str(), 1);
  }
  ~ScopedEnv() {
    for (auto& [k, v] : vars_) ::unsetenv(k.c_str());
  }

 private:
  std::vector<std::pair<std::string, std::string>> vars_;
};

std::string config(const UpstreamProcess& up, const std::string& server_extra = "") {
  ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test", 1);
  return daemonHead(server_extra) + openaiInstance("primary", up.baseUrl()) +
         "[routes.default]\nprovider = \"primary\"\nmodel = \"gpt-a\"\n";
}

std::unique_ptr<DaemonProcess> startWith(const std::string& text, std::vector<std::pair<std::string, std::string>> env) {
  ScopedEnv scoped(std::move(env));
  auto d = std::make_unique<DaemonProcess>(text);  // forks here, inheriting the environment
  return d;
}

}  // namespace

TEST_CASE("upstream transport: http_proxy sends upstream calls through the proxy, no_proxy bypasses it") {
  UpstreamProcess up, proxy("", "proxy.py");
  REQUIRE(up.ready());
  REQUIRE(proxy.ready());
  std::string proxy_url = "http://127.0.0.1:" + std::to_string(proxy.port());
  {
    auto daemon = startWith(config(up), {{"http_proxy", proxy_url}});
    REQUIRE(daemon->waitReady());
    auto r = client::Client(at(*daemon)).chat(ask("hello"));
    REQUIRE(r.ok());
    CHECK(r.value().content == "Hello from upstream");
  }
  auto log = parseJson(proxy.log());
  REQUIRE(log.Size() == 1);
  CHECK(std::string(log[0]["method"].GetString()) == "POST");
  CHECK(std::string(log[0]["target"].GetString()) == up.baseUrl() + "/v1/chat/completions");
  CHECK(parseJson(up.log()).Size() == 1);
  {
    auto daemon = startWith(config(up), {{"http_proxy", proxy_url}, {"no_proxy", "127.0.0.1"}});
    REQUIRE(daemon->waitReady());
    REQUIRE(client::Client(at(*daemon)).chat(ask("hello")).ok());
  }
  CHECK(parseJson(proxy.log()).Size() == 1);  // bypassed
  CHECK(parseJson(up.log()).Size() == 2);
}

TEST_CASE("upstream transport: a self-signed TLS upstream is refused, typed, unless upstream_ca_file trusts it") {
  SelfSigned tls;
  REQUIRE(tls.ok);
  UpstreamProcess up(tls.server);
  REQUIRE(up.ready());
  {
    DaemonProcess daemon(config(up));
    REQUIRE(daemon.waitReady());
    auto r = client::Client(at(daemon)).chat(ask("hello"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == StatusCode::kInternal);
    CHECK_FALSE(r.error().retryable);
    CHECK(r.error().message.find("certificate") != std::string::npos);
  }
  CHECK(parseJson(up.log()).Size() == 0);
  DaemonProcess daemon(config(up, "upstream_ca_file = \"" + tls.cert + "\"\n"));
  REQUIRE(daemon.waitReady());
  auto r = client::Client(at(daemon)).chat(ask("hello"));
  REQUIRE(r.ok());
  CHECK(r.value().content == "Hello from upstream");
}

TEST_CASE("upstream transport: HTTPS_PROXY tunnels a verified TLS upstream through CONNECT") {
  SelfSigned tls;
  REQUIRE(tls.ok);
  UpstreamProcess up(tls.server), proxy("", "proxy.py");
  REQUIRE(up.ready());
  REQUIRE(proxy.ready());
  auto daemon = startWith(config(up, "upstream_ca_file = \"" + tls.cert + "\"\n"),
                          {{"HTTPS_PROXY", "http://127.0.0.1:" + std::to_string(proxy.port())}});
  REQUIRE(daemon->waitReady());
  auto r = client::Client(at(*daemon)).chat(ask("hello"));
  REQUIRE(r.ok());
  auto log = parseJson(proxy.log());
  REQUIRE(log.Size() == 1);
  CHECK(std::string(log[0]["method"].GetString()) == "CONNECT");
  CHECK(std::string(log[0]["target"].GetString()) == "127.0.0.1:" + std::to_string(up.port()));
}

TEST_CASE("upstream transport: HTTP/2 is negotiated by ALPN with an upstream that offers it") {
  SelfSigned tls;
  REQUIRE(tls.ok);
  // Debian's interpreter, which sees Debian's python3-h2 (deploy/setup.sh installs it).
  UpstreamProcess h2(tls.server, "h2_upstream.py", "/usr/bin/python3");
  REQUIRE(h2.ready());
  DaemonProcess daemon(config(h2, "upstream_ca_file = \"" + tls.cert + "\"\n"));
  REQUIRE(daemon.waitReady());
  auto r = client::Client(at(daemon)).chat(ask("hello"));
  REQUIRE(r.ok());
  CHECK(r.value().content == "Hello over h2");
  auto log = parseJson(h2.log());
  REQUIRE(log.IsArray());
  bool chat_over_h2 = false;
  for (const auto& e : log.GetArray()) {
    if (e["path"].IsString() && std::string(e["path"].GetString()) == "/v1/chat/completions") {
      chat_over_h2 = std::string(e["protocol"].GetString()) == "h2";
    }
  }
  CHECK(chat_over_h2);
}
