// The CLI subcommands, run as a user would run them.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include <outrigger/client.h>

#include "support/daemon_process.h"

using namespace outrigger::testing;
using namespace std::chrono_literals;

namespace {

struct Run {
  int code;
  std::string out;
};

Run run(const std::string& args) {
  std::string cmd = std::string(OUTRIGGER_BIN) + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string writeTemp(const std::string& dir, const std::string& name, const std::string& text) {
  std::string path = dir + "/" + name;
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST_CASE("outrigger check prints the resolved chain of a valid config") {
  Run r = run("check --config " OUTRIGGER_SOURCE_DIR "/config/full.toml");
  CHECK(r.code == 0);
  CHECK(r.out.find("route default (default)") != std::string::npos);
  CHECK(r.out.find("guardrail  input_rules") != std::string::npos);
  CHECK(r.out.find("limiter    tenant_budget    limiter.budget") != std::string::npos);
  CHECK(r.out.find("cache      memory") != std::string::npos);
  CHECK(r.out.find("provider   mock") != std::string::npos);
  CHECK(r.out.find("exporter   request_log") != std::string::npos);
  CHECK(r.out.find("fallback   62-byte degraded answer") != std::string::npos);
}

TEST_CASE("outrigger check exits non-zero with file:line on an error") {
  std::string dir = makeTempDir();
  std::string path = writeTemp(dir, "bad.toml", "[server]\nworkers = 1\nsocket_mdoe = \"0600\"\n");
  Run r = run("check --config " + path);
  CHECK(r.code == 1);
  CHECK(r.out.find(path + ":3: unknown key 'socket_mdoe'") != std::string::npos);
  path = writeTemp(dir, "badplugin.toml",
                   "[instances.mock]\ntype = \"provider.mock\"\n[instances.mock.config]\nlatency_ms = -5\n"
                   "[routes.default]\nprovider = \"mock\"\n");
  r = run("check --config " + path);
  CHECK(r.code == 1);
  CHECK(r.out.find(path + ":4") != std::string::npos);
  CHECK(r.out.find("config/latency_ms") != std::string::npos);
  outrigger::testing::removeTempDir(dir);
}

TEST_CASE("outrigger check leaves no exporter file behind, and refuses a path it could never write") {
  std::string dir = makeTempDir();
  auto config = [&](const std::string& log_path) {
    return "[instances.mock]\ntype = \"provider.mock\"\n"
           "[instances.log]\ntype = \"exporter.jsonl\"\n[instances.log.config]\npath = \"" + log_path + "\"\n"
           "[routes.default]\nprovider = \"mock\"\nexporters = [\"log\"]\n";
  };
  std::string ok = writeTemp(dir, "ok.toml", config(dir + "/requests.jsonl"));
  Run r = run("check --config " + ok);
  CHECK(r.code == 0);
  CHECK(::access((dir + "/requests.jsonl").c_str(), F_OK) != 0);
  std::string bad = writeTemp(dir, "bad.toml", config(dir + "/no-such-dir/requests.jsonl"));
  r = run("check --config " + bad);
  CHECK(r.code == 1);
  CHECK(r.out.find("cannot create " + dir + "/no-such-dir/requests.jsonl") != std::string::npos);
  outrigger::testing::removeTempDir(dir);
}

// Usage errors came back with CLI11's own codes (104-114), outside the documented 0/1/2/100.
TEST_CASE("outrigger: every usage error exits 2, help exits 0") {
  CHECK(run("bogus").code == 2);
  CHECK(run("traces list --limit abc").code == 2);
  CHECK(run("chat -m a -m b hi").code == 2);
  CHECK(run("eval run").code == 2);
  CHECK(run("check --no-such-flag").code == 2);
  Run help = run("check --help");
  CHECK(help.code == 0);
  CHECK(help.out.find("--config") != std::string::npos);
}

// Small outputs were written at the stream's close, after the check: a full disk left an empty
// file and exit 0.
TEST_CASE("outrigger: output that cannot be written is a failure, to a file or to standard output") {
  std::string dir = makeTempDir();
  Run rules = run("alerts rules -c " OUTRIGGER_SOURCE_DIR "/tests/fuzz/corpus/config/alerts.toml -o /dev/full");
  CHECK(rules.code == 1);
  CHECK(rules.out.find("cannot write /dev/full") != std::string::npos);
  CHECK(run("prices import " OUTRIGGER_SOURCE_DIR "/config/prices/models.toml -p none -o /dev/full").code == 1);
  CHECK(run("version > /dev/full").code == 1);  // its message went to /dev/full as well
  // To a file: whole, and nothing left beside it.
  std::string out = dir + "/rules.yml";
  CHECK(run("alerts rules -c " OUTRIGGER_SOURCE_DIR "/tests/fuzz/corpus/config/alerts.toml -o " + out).code == 0);
  std::ifstream in(out);
  std::stringstream text;
  text << in.rdbuf();
  CHECK(text.str().find("groups:") != std::string::npos);
  // No temporary is left beside it.
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    CHECK(entry.path().filename().string().rfind(".outrigger-", 0) != 0);
  }
  // Replacing a file keeps its permissions, and a symlink's target is what is replaced.
  REQUIRE(::chmod(out.c_str(), 0600) == 0);
  std::string link = dir + "/link.yml";
  REQUIRE(::symlink(out.c_str(), link.c_str()) == 0);
  CHECK(run("alerts rules -c " OUTRIGGER_SOURCE_DIR "/tests/fuzz/corpus/config/alerts.toml -o " + link).code == 0);
  struct stat st{};
  REQUIRE(::lstat(link.c_str(), &st) == 0);
  CHECK(S_ISLNK(st.st_mode));
  REQUIRE(::stat(out.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  // A file with another name (a hard link) is written in place: both names see the new text.
  std::string other = dir + "/other.yml";
  { std::ofstream(out) << "old"; }
  REQUIRE(::link(out.c_str(), other.c_str()) == 0);
  CHECK(run("alerts rules -c " OUTRIGGER_SOURCE_DIR "/tests/fuzz/corpus/config/alerts.toml -o " + out).code == 0);
  std::stringstream through_other;
  through_other << std::ifstream(other).rdbuf();
  CHECK(through_other.str().find("groups:") != std::string::npos);
}

// check passed socket paths serve then refused at bind.
TEST_CASE("outrigger check refuses a socket path serve could not bind, and names the one it would use") {
  std::string dir = makeTempDir();
  const std::string route = "[instances.mock]\ntype = \"provider.mock\"\n[routes.default]\nprovider = \"mock\"\n";
  std::string long_path = dir + "/" + std::string(120, 'a') + ".sock";
  std::string too_long = writeTemp(dir, "long.toml", "[server]\nsocket = \"" + long_path + "\"\n" + route);
  Run r = run("check --config " + too_long);
  CHECK(r.code == 1);
  CHECK(r.out.find("socket path too long") != std::string::npos);
  std::string no_dir = writeTemp(dir, "nodir.toml", "[server]\nsocket = \"" + dir + "/missing/x.sock\"\n" + route);
  Run m = run("check --config " + no_dir);
  CHECK(m.code == 1);
  CHECK(m.out.find("does not exist") != std::string::npos);
  std::string http = writeTemp(dir, "http.toml", "[http]\nlisten = [\"unix:" + long_path + "\"]\n" + route);
  CHECK(run("check --config " + http).code == 1);
  std::string plain = writeTemp(dir, "plain.toml", route);
  // $OUTRIGGER_SOCKET is what serve binds when the config names no socket: check says so.
  std::string cmd = "OUTRIGGER_SOCKET=" + dir + "/env.sock " + std::string(OUTRIGGER_BIN) + " check --config " + plain + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string printed;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) printed.append(buf, n);
  CHECK(::pclose(p) == 0);
  CHECK(printed.find("socket " + dir + "/env.sock") != std::string::npos);
}

TEST_CASE("outrigger plugins lists every type with kind, version, stability and schema") {
  Run r = run("plugins --dir " OUTRIGGER_PLUGIN_DIR);
  CHECK(r.code == 0);
  for (const char* t : {"provider.mock", "guardrail.rules", "cache.memory", "exporter.jsonl"}) {
    CHECK(r.out.find(t) != std::string::npos);
  }
  CHECK(r.out.find("stability  stable") != std::string::npos);
  CHECK(r.out.find("\"additionalProperties\"") != std::string::npos);
}

TEST_CASE("outrigger version and chat") {
  Run v = run("version");
  CHECK(v.code == 0);
  CHECK(v.out.find("outrigger 0.1.0") != std::string::npos);
  DaemonProcess d;
  REQUIRE(d.waitReady());
  Run c = run("chat --socket " + d.socket() + " 'hello from the shell'");
  CHECK(c.code == 0);
  CHECK(c.out.find("hello from the shell") != std::string::npos);
  CHECK(c.out.find("finish stop") != std::string::npos);
  Run denied = run("chat --socket " + d.socket() + " 'the forbidden phrase'");
  CHECK(denied.code == 1);
  CHECK(denied.out.find("PERMISSION_DENIED [guardrail/input_rules]") != std::string::npos);
}

TEST_CASE("the jsonl exporter writes one record per request with spans, usage and verdicts") {
  std::string extra =
      "exporters = [\"log\"]\ncache = \"mem\"\n"
      "[instances.log]\ntype = \"exporter.jsonl\"\n[instances.log.config]\npath = \"@DIR@/requests.jsonl\"\n"
      "[instances.mem]\ntype = \"cache.memory\"\n";
  DaemonProcess d(basicConfig("mode = \"echo\"", extra));
  REQUIRE(d.waitReady());
  {
    outrigger::client::Client::Options o;
    o.socket_path = d.socket();
    outrigger::client::Client c(o);
    outrigger::client::ChatRequest req;
    req.messages.push_back({"user", "cache me", "", "", {}});
    outrigger::client::Metadata md;
    md.tenant = "acme";
    req.metadata = md;
    REQUIRE(c.chat(req).ok());
    auto second = c.chat(req);
    REQUIRE(second.ok());
    CHECK(second.value().cache_hit);
    md.tenant = "globex";
    req.metadata = md;
    auto other = c.chat(req);
    REQUIRE(other.ok());
    CHECK_FALSE(other.value().cache_hit);
  }
  d.signal(SIGTERM);
  REQUIRE(d.waitExit(10s) == 0);
  std::ifstream in(d.dir() + "/requests.jsonl");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].find(R"("status":"OK")") != std::string::npos);
  CHECK(lines[0].find(R"("stage":"guardrail.request")") != std::string::npos);
  CHECK(lines[0].find(R"("stage":"cache.lookup")") != std::string::npos);
  CHECK(lines[0].find(R"("outcome":"miss")") != std::string::npos);
  CHECK(lines[0].find(R"("stage":"provider")") != std::string::npos);
  CHECK(lines[0].find(R"("stage":"cache.store")") != std::string::npos);
  CHECK(lines[0].find(R"("tenant":"acme")") != std::string::npos);
  CHECK(lines[0].find(R"("verdict":"pass")") != std::string::npos);
  CHECK(lines[1].find(R"("cache_hit":true)") != std::string::npos);
  CHECK(lines[2].find(R"("tenant":"globex")") != std::string::npos);
  CHECK(lines[2].find(R"("cache_hit":false)") != std::string::npos);
}
