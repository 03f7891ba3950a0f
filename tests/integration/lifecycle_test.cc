// Reload, drain, restart and socket ownership, with the daemon as a real process.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include <outrigger/client.h>

#include "support/daemon_process.h"
#include "support/sdk_requests.h"

using namespace outrigger;
using namespace outrigger::testing;
using client::StatusCode;
using namespace std::chrono_literals;

namespace {

// `config` with the fixture plugins that crash (tests/fixtures/plugins/crashing) loadable too.
std::string withCrashingPlugins(std::string config) {
  const std::string dirs = "dirs = [\"@PLUGINS@\"]";
  config.replace(config.find(dirs), dirs.size(), "dirs = [\"@PLUGINS@\", \"" OUTRIGGER_FIXTURE_DIR "/crashing\"]");
  return config;
}

std::string fixedConfig(const std::string& text) {
  return basicConfig("mode = \"fixed\"\ntext = \"" + text + "\"\nallow_request_overrides = true\nlatency_ms = 2");
}

}  // namespace

TEST_CASE("SIGHUP reload under load: zero failed requests, new requests see the new chain") {
  DaemonProcess d(fixedConfig("generation one"));
  REQUIRE(d.waitReady());
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0}, saw_new{0};
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t) {
    load.emplace_back([&] {
      client::Client c(at(d));
      while (!stop) {
        auto r = c.chat(ask("q"));
        if (!r.ok()) failed++;
        else if (r.value().content == "generation two") saw_new++, ok++;
        else if (r.value().content == "generation one") ok++;
        else failed++;
      }
    });
  }
  std::this_thread::sleep_for(200ms);
  d.writeConfig(fixedConfig("generation two"));
  d.signal(SIGHUP);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (saw_new < 50 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  stop = true;
  for (auto& t : load) t.join();
  CHECK(saw_new >= 50);
  CHECK(ok > 100);
  CHECK(failed == 0);
  CHECK(d.log().find("config generation 2 is live") != std::string::npos);
}

namespace {

// The plugin libraries the daemon has mapped, by file name.
std::set<std::string> mappedPlugins(pid_t pid) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::set<std::string> out;
  for (std::string line; std::getline(maps, line);) {
    size_t at = line.find("/plugins/");
    if (at != std::string::npos) out.insert(line.substr(at + 9));
  }
  return out;
}

}  // namespace

// Every library in the plugin folder was loaded, and with it its dependencies for good
// (guardrail.pii's ICU and protobuf, guardrail.tokens' sentencepiece): a third of an idle
// default daemon's memory for plugins no instance used.
TEST_CASE("the daemon loads the plugin libraries its instances name, and a reload loads a new one") {
  DaemonProcess d(fixedConfig("one"));
  REQUIRE(d.waitReady());
  CHECK(mappedPlugins(d.pid()) == std::set<std::string>{"provider_mock.so", "guardrail_rules.so"});
  std::string config = fixedConfig("two");
  const std::string guardrails = "guardrails = [\"input_rules\"]";
  config.replace(config.find(guardrails), guardrails.size(), "guardrails = [\"input_rules\", \"pii\"]");
  config += "\n[instances.pii]\ntype = \"guardrail.pii\"\n";
  d.writeConfig(config);
  d.signal(SIGHUP);
  client::Client c(at(d));
  auto deadline = std::chrono::steady_clock::now() + 5s;
  std::string content;
  while (content != "two" && std::chrono::steady_clock::now() < deadline) {
    auto r = c.chat(ask("q"));
    if (r.ok()) content = r.value().content;
    std::this_thread::sleep_for(10ms);
  }
  CHECK(content == "two");
  CHECK(mappedPlugins(d.pid()) == std::set<std::string>{"provider_mock.so", "guardrail_rules.so", "guardrail_pii.so"});
}

TEST_CASE("an invalid config on reload is rejected and the old chain keeps serving") {
  DaemonProcess d(fixedConfig("still the old one"));
  REQUIRE(d.waitReady());
  d.writeConfig("[server]\nsocket = \"@SOCKET@\"\nbogus_key = 1\n");
  d.signal(SIGHUP);
  client::Client c(at(d));
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (d.log().find("rejected") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  CHECK(d.log().find("rejected, keeping the running config") != std::string::npos);
  CHECK(d.log().find("bogus_key") != std::string::npos);
  auto r = c.chat(ask("q"));
  REQUIRE(r.ok());
  CHECK(r.value().content == "still the old one");
}

TEST_CASE("a reload rejected at a later instance leaves the running limits alone") {
  auto withBudget = [](const std::string& limit_tokens, const std::string& more) {
    return basicConfig("mode = \"echo\"", "limiters = [\"budget\"]\n[instances.budget]\ntype = \"limiter.budget\"\n"
                                          "[instances.budget.config]\nwindow = \"daily\"\nlimit_tokens = " +
                                              limit_tokens + "\n" + more);
  };
  DaemonProcess d(withBudget("1000000", ""));
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  REQUIRE(c.chat(ask("within budget")).ok());
  // The new budget would refuse everything, but a provider created after it fails (fixed mode
  // without its text), so the whole reload is rejected.
  d.writeConfig(withBudget("1", "[instances.broken]\ntype = \"provider.mock\"\n[instances.broken.config]\nmode = \"fixed\"\n"
                                "[routes.zz]\nprovider = \"broken\"\n"));
  d.signal(SIGHUP);
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (d.log().find("rejected") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  REQUIRE(d.log().find("rejected, keeping the running config") != std::string::npos);
  auto r = c.chat(ask("still within the running budget"));
  INFO((r.ok() ? std::string() : r.error().message));
  CHECK(r.ok());
}

TEST_CASE("a plugin that crashes in create is named in the log, and the crash keeps its signal") {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return;  // under a sanitizer its own report stands in for ours
#endif
  DaemonProcess d(withCrashingPlugins(basicConfig(
      "mode = \"echo\"", "[instances.crashy]\ntype = \"provider.fx_crash_create\"\n[routes.other]\nprovider = \"crashy\"\n")));
  CHECK(d.waitExit() == 128 + SIGSEGV);
  std::string log = d.log();
  INFO(log);
  CHECK(log.find("fatal signal SEGV while creating plugin instance 'crashy'") != std::string::npos);
  CHECK(log.find("crash_create.so") != std::string::npos);  // the backtrace names the library
}

TEST_CASE("a plugin that overflows a worker's stack is reported too, from the thread's alternate signal stack") {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return;  // under a sanitizer its own report stands in for ours
#endif
  DaemonProcess d(withCrashingPlugins(basicConfig(
      "mode = \"echo\"", "[instances.deep]\ntype = \"provider.fx_overflow_start\"\n[routes.deep]\nprovider = \"deep\"\n")));
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  client::ChatRequest r = ask("recurse");
  r.model = "deep";
  (void)c.chat(r);  // the daemon dies under it
  CHECK(d.waitExit() == 128 + SIGSEGV);
  std::string log = d.log();
  INFO(log);
  CHECK(log.find("fatal signal SEGV") != std::string::npos);
  CHECK(log.find("overflow_start.so") != std::string::npos);  // the backtrace names the library
}

TEST_CASE("an allocation no machine can meet throws std::bad_alloc in a plugin: the daemon keeps serving") {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return;  // a sanitizer's allocator reports the request instead of failing it
#endif
  DaemonProcess d(withCrashingPlugins(basicConfig(
      "mode = \"echo\"", "[instances.huge]\ntype = \"provider.fx_huge_alloc_start\"\n[routes.huge]\nprovider = \"huge\"\n")));
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  client::ChatRequest r = ask("allocate");
  r.model = "huge";
  auto failed = c.chat(r);
  CHECK_FALSE(failed.ok());
  auto served = c.chat(ask("still there?"));
  REQUIRE(served.ok());
  CHECK(served.value().content == "still there?");
}

TEST_CASE("a SIGHUP while the first chain is built does not kill the daemon, and reloads once it serves") {
  // basicConfig's two workers each create the slow provider: the first chain takes 2 s.
  DaemonProcess d(withCrashingPlugins(basicConfig(
      "mode = \"echo\"", "[instances.slow]\ntype = \"provider.fx_slow_create\"\n"
                         "[routes.slow]\nprovider = \"slow\"\n")));
  std::this_thread::sleep_for(700ms);
  d.signal(SIGHUP);
  REQUIRE(d.waitReady(20s));
  for (int i = 0; i < 200 && d.log().find("config generation 2 is live") == std::string::npos; ++i) {
    std::this_thread::sleep_for(50ms);
  }
  std::string log = d.log();
  INFO(log);
  CHECK(log.find("a SIGHUP arrived while starting") != std::string::npos);
  CHECK(log.find("config generation 2 is live") != std::string::npos);
  client::Client c(at(d));
  CHECK(c.chat(ask("still here")).ok());
  d.signal(SIGTERM);
  CHECK(d.waitExit(10s) == 0);
}

TEST_CASE("a reload names the sections only a restart changes, and the command line's --workers is none of them") {
  DaemonProcess d(basicConfig(), "--workers 1");  // the file says workers = 2
  REQUIRE(d.waitReady());
  REQUIRE(d.reload(basicConfig(), 2));
  CHECK(d.log().find("need a restart") == std::string::npos);
  REQUIRE(d.reload(basicConfig("mode = \"echo\"", "[exporter]\nqueue_capacity = 128\n"), 3));
  CHECK(d.log().find("[exporter] changes need a restart; keeping the old values") != std::string::npos);
  client::Client c(at(d));
  CHECK(c.chat(ask("still serving")).ok());
}

TEST_CASE("SIGTERM drains: every in-flight request completes, then the daemon exits 0") {
  DaemonProcess d;
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  REQUIRE_FALSE(c.connect());
  std::atomic<int> ok{0}, failed{0}, done{0};
  for (int i = 0; i < 50; ++i) {
    client::CallEvents ev;
    ev.on_end = [&](const client::Result<client::Response>& r) {
      (r.ok() ? ok : failed)++;
      done++;
    };
    c.start(ask("in flight " + std::to_string(i), R"({"latency_ms": 400})"), std::move(ev), false);
  }
  std::this_thread::sleep_for(100ms);
  d.signal(SIGTERM);
  CHECK(d.waitExit(10s) == 0);
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (done < 50 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  CHECK(ok == 50);
  CHECK(failed == 0);
  struct stat st;
  CHECK(::stat(d.socket().c_str(), &st) != 0);  // the socket file is gone
}

TEST_CASE("SIGTERM past the grace period ends the rest with a typed UNAVAILABLE") {
  // Three calls hang at the provider; on a route whose one target (its own model, so its own
  // limit) takes one at a time, a fourth hangs there and two more wait in its queue, never
  // having reached a provider. Only those may be retried: a retry of the others could run them twice.
  std::string cfg = basicConfig("mode = \"echo\"\nallow_request_overrides = true",
                                "[routes.one]\ntargets = [{ provider = \"mock\", model = \"m\", max_concurrent = 1 }]\n"
                                "limits = { on_limit = \"queue\", queue_max = 8, queue_timeout_ms = 60000 }\n");
  cfg.replace(cfg.find("drain_grace_ms = 5000"), 21, "drain_grace_ms = 200");
  DaemonProcess d(cfg);
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  REQUIRE_FALSE(c.connect());
  std::atomic<int> at_provider{0}, queued{0}, done{0};
  for (int i = 0; i < 6; ++i) {
    client::ChatRequest request = ask("x", R"({"hang": true})");
    if (i >= 3) request.model = "one";  // the first takes the route's one slot, the rest queue
    client::CallEvents ev;
    ev.on_end = [&](const client::Result<client::Response>& r) {
      if (!r.ok() && r.error().code == StatusCode::kUnavailable && r.error().origin == "server") {
        if (r.error().reached_provider && !r.error().retryable) at_provider++;
        if (!r.error().reached_provider && r.error().retryable) queued++;
      }
      done++;
    };
    c.start(request, std::move(ev), false);
  }
  std::this_thread::sleep_for(100ms);
  auto t0 = std::chrono::steady_clock::now();
  d.signal(SIGTERM);
  CHECK(d.waitExit(10s) == 0);
  CHECK(std::chrono::steady_clock::now() - t0 < 3s);
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (done < 6 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  // Ended by the server with a typed status, not by a dropped socket.
  CHECK(at_provider == 4);
  CHECK(queued == 2);
}

TEST_CASE("after GoAway and a restart the same client reconnects") {
  auto d = std::make_unique<DaemonProcess>();
  REQUIRE(d->waitReady());
  std::string dir_config = d->configPath();
  client::Client c(at(*d));
  REQUIRE(c.chat(ask("before")).ok());
  std::string socket = d->socket();
  d->signal(SIGTERM);
  REQUIRE(d->waitExit(10s) == 0);
  // A new daemon on the same socket path.
  std::string cfg = basicConfig();
  DaemonProcess d2(cfg);
  REQUIRE(d2.waitReady());
  client::Client::Options o;
  o.socket_path = d2.socket();
  client::Client c2(o);
  REQUIRE(c2.chat(ask("one")).ok());
  d2.signal(SIGTERM);
  REQUIRE(d2.waitExit(10s) == 0);
  CHECK_FALSE(c2.chat(ask("nobody home")).ok());
  DaemonProcess d3(cfg);
  // d3 has its own directory; move its socket where c2 looks.
  REQUIRE(d3.waitReady());
  REQUIRE(::rename(d3.socket().c_str(), d2.socket().c_str()) == 0);
  auto r = c2.chat(ask("after"));
  REQUIRE(r.ok());
  CHECK(r.value().content == "after");
  CHECK(c2.connectionsOpened() >= 2);
}

TEST_CASE("SIGKILL under load: each call ends once, with its whole answer or a retryable UNAVAILABLE, and the client reconnects") {
  DaemonProcess d;
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  REQUIRE_FALSE(c.connect());
  constexpr int kUnary = 8, kStreams = 8, kCalls = kUnary + kStreams;
  const std::string words = "w0 w1 w2 w3 w4 w5 w6 w7 w8 w9";
  std::mutex mu;
  std::condition_variable cv;
  int streaming = 0, ended = 0;
  std::vector<int> ends(kCalls, 0);
  std::vector<std::optional<client::Result<client::Response>>> results(kCalls);
  auto events = [&](int i) {
    client::CallEvents ev;
    ev.on_chunk = [&, i, first = true](const client::Chunk&) mutable {
      if (!std::exchange(first, false)) return;
      std::lock_guard<std::mutex> lock(mu);
      ++streaming;
      cv.notify_all();
    };
    ev.on_end = [&, i](const client::Result<client::Response>& r) {
      std::lock_guard<std::mutex> lock(mu);
      if (ends[i]++ == 0) results[i] = r;
      ++ended;
      cv.notify_all();
    };
    return ev;
  };
  for (int i = 0; i < kUnary; ++i) c.start(ask("unary " + std::to_string(i), R"({"latency_ms": 2000})"), events(i), false);
  for (int i = kUnary; i < kCalls; ++i) c.start(ask(words, R"({"chunks": 10, "chunk_interval_ms": 200})"), events(i), true);
  {
    std::unique_lock<std::mutex> lock(mu);
    REQUIRE(cv.wait_for(lock, 10s, [&] { return streaming == kStreams; }));  // every stream is half read
  }

  d.signal(SIGKILL);
  REQUIRE(d.waitExit(10s) == 128 + SIGKILL);
  {
    std::unique_lock<std::mutex> lock(mu);
    CHECK(cv.wait_for(lock, 3s, [&] { return ended == kCalls; }));  // none hangs
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    int successes = 0, failures = 0;
    for (int i = 0; i < kCalls; ++i) {
      INFO("call " << i);
      CHECK(ends[i] == 1);
      if (!results[i]) continue;
      if (results[i]->ok()) {
        ++successes;  // an answer is whole, never cut short
        CHECK(results[i]->value().content == (i < kUnary ? "unary " + std::to_string(i) : words));
      } else {
        ++failures;
        CHECK(results[i]->error().code == StatusCode::kUnavailable);
        CHECK(results[i]->error().retryable);
      }
    }
    CHECK(successes + failures == kCalls);
    CHECK(failures > 0);
  }

  // This SDK does not wait for a daemon: a call while none listens fails at once, retryably.
  auto down = c.chat(ask("while down"));
  REQUIRE_FALSE(down.ok());
  CHECK(down.error().code == StatusCode::kUnavailable);
  CHECK(down.error().retryable);
  // A new daemon on the same path (it removes the killed one's socket file); the same client
  // reconnects by itself.
  d.restart();
  REQUIRE(d.waitReady());
  CHECK(d.log().find("removing stale socket") != std::string::npos);
  auto after = c.chat(ask("after"));
  REQUIRE(after.ok());
  CHECK(after.value().content == "after");
  auto stream = c.stream(ask("s t r", R"({"chunks": 3})"));
  std::string text;
  for (client::Chunk chunk; stream.next(&chunk);) text += chunk.delta;
  REQUIRE(stream.result().ok());
  CHECK(text == "s t r");
  CHECK(c.connectionsOpened() == 2);
}

TEST_CASE("a second daemon refuses a socket a live daemon owns, and a stale socket file is replaced") {
  DaemonProcess d;
  REQUIRE(d.waitReady());
  std::string cfg = "[server]\nsocket = \"" + d.socket() + "\"\n" + basicConfig().substr(basicConfig().find("[plugins]"));
  DaemonProcess second(cfg);
  CHECK(second.waitExit(10s) == 1);
  CHECK(second.log().find("another Outrigger is already serving") != std::string::npos);

  // A socket file nobody listens on.
  std::string dir = makeTempDir();
  std::string stale = dir + "/stale.sock";
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, stale.c_str(), sizeof addr.sun_path - 1);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  ::close(fd);
  std::string cfg2 = "[server]\nsocket = \"" + stale + "\"\nsocket_mode = \"0600\"\n" +
                     basicConfig().substr(basicConfig().find("[plugins]"));
  DaemonProcess third(cfg2);
  CHECK_FALSE(third.waitReady(300ms));  // it serves on the stale path, not on its own directory's
  RawConnection probe(stale);
  bool up = false;
  for (int i = 0; i < 200 && !up; ++i) {
    RawConnection p(stale);
    up = p.connected();
    if (!up) std::this_thread::sleep_for(20ms);
  }
  REQUIRE(up);
  CHECK(third.log().find("removing stale socket") != std::string::npos);
  struct stat st;
  REQUIRE(::stat(stale.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  third.signal(SIGTERM);
  CHECK(third.waitExit(10s) == 0);
  outrigger::testing::removeTempDir(dir);
}

TEST_CASE("a socket path too long for a Unix socket, or in a missing directory, is refused with its reason") {
  std::string dir = makeTempDir();
  std::string rest = basicConfig().substr(basicConfig().find("[plugins]"));
  std::string long_path = dir + "/" + std::string(120, 's') + ".sock";
  DaemonProcess too_long("[server]\nsocket = \"" + long_path + "\"\n" + rest);
  CHECK(too_long.waitExit(10s) == 1);
  CHECK(too_long.log().find("socket path too long") != std::string::npos);
  // libuv would have cut the path and served on the cut name, a file no client looks for.
  std::string cut = long_path.substr(0, sizeof(sockaddr_un{}.sun_path) - 1);
  struct stat st;
  CHECK(::lstat(cut.c_str(), &st) != 0);
  DaemonProcess missing("[server]\nsocket = \"" + dir + "/no/such/dir/o.sock\"\n" + rest);
  CHECK(missing.waitExit(10s) == 1);
  CHECK(missing.log().find("does not exist") != std::string::npos);
  outrigger::testing::removeTempDir(dir);
}

TEST_CASE("SIGTERM does not wait forever on a client that never reads") {
  std::string cfg = basicConfig("mode = \"echo\"\nallow_request_overrides = true");
  cfg.replace(cfg.find("drain_grace_ms = 5000"), 21, "drain_grace_ms = 200");
  DaemonProcess d(cfg);
  REQUIRE(d.waitReady());
  RawConnection raw(d.socket());
  REQUIRE(raw.send(helloFrame()));
  REQUIRE(raw.readFrame());
  RequestSpec spec;
  spec.stream = true;
  spec.extra_json = R"({"mock": {"text": ")" + std::string(3u << 20, 'z') + R"(", "chunks": 4096}})";
  REQUIRE(raw.send(requestFrame(1, spec)));
  std::this_thread::sleep_for(300ms);  // the daemon's output to this client is now stuck
  auto t0 = std::chrono::steady_clock::now();
  d.signal(SIGTERM);
  CHECK(d.waitExit(10s) == 0);
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
}

namespace {

// Waits until the daemon's log holds `text` `times` times.
bool awaitLog(DaemonProcess& d, const std::string& text, size_t times = 1) {
  for (int i = 0; i < 500; ++i) {
    std::string log = d.log();
    size_t n = 0;
    for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++n;
    if (n >= times) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

std::string answer(DaemonProcess& d) {
  client::Client c(at(d));
  auto r = c.chat(ask("q"));
  return r.ok() ? r.value().content : "error: " + r.error().message;
}

}  // namespace

TEST_CASE("a config mounted as Kubernetes mounts a ConfigMap reloads when the ..data link is swapped, without a signal") {
  // The layout kubelet makes: the file is a link through ..data to a timestamped directory.
  DaemonProcess d(fixedConfig("generation one"), "",
                  "cd \"$XDG_STATE_HOME\" && mkdir ..2026_1 && mv outrigger.toml ..2026_1/ && ln -s ..2026_1 ..data && "
                  "ln -s ..data/outrigger.toml outrigger.toml && ");
  REQUIRE(d.waitReady());
  REQUIRE(awaitLog(d, "for changes"));
  CHECK(answer(d) == "generation one");
  auto swap = [&](const std::string& dir, const std::string& config) {
    std::string text = config;
    for (size_t at; (at = text.find("@SOCKET@")) != std::string::npos;) text.replace(at, 8, d.socket());
    for (size_t at; (at = text.find("@PLUGINS@")) != std::string::npos;) text.replace(at, 9, OUTRIGGER_PLUGIN_DIR);
    REQUIRE(::mkdir((d.dir() + "/" + dir).c_str(), 0755) == 0);
    std::ofstream(d.dir() + "/" + dir + "/outrigger.toml") << text;
    REQUIRE(::symlink(dir.c_str(), (d.dir() + "/..data_tmp").c_str()) == 0);
    REQUIRE(::rename((d.dir() + "/..data_tmp").c_str(), (d.dir() + "/..data").c_str()) == 0);  // atomic, as kubelet does
  };
  swap("..2026_2", fixedConfig("generation two"));
  REQUIRE(awaitLog(d, "config generation 2 is live"));
  CHECK(answer(d) == "generation two");
  // A broken config is refused and the running one keeps serving.
  swap("..2026_3", "[server]\nsocket = \"@SOCKET@\"\nbogus_key = 1\n");
  REQUIRE(awaitLog(d, "rejected, keeping the running config"));
  CHECK(answer(d) == "generation two");
  // The daemon's own writes in the directory (its log) never count as a change.
  std::this_thread::sleep_for(500ms);
  CHECK(d.log().find("config generation 3") == std::string::npos);
}

TEST_CASE("a plain config file edited in place reloads once, and watch_config = false leaves reloading to SIGHUP") {
  DaemonProcess d(fixedConfig("generation one"));
  REQUIRE(d.waitReady());
  REQUIRE(awaitLog(d, "for changes"));
  d.writeConfig(fixedConfig("generation two"));
  REQUIRE(awaitLog(d, "config generation 2 is live"));
  CHECK(answer(d) == "generation two");
  std::this_thread::sleep_for(600ms);  // past the debounce: one change, one reload
  CHECK(d.log().find("config generation 3") == std::string::npos);

  // An edit that a SIGHUP applies at once is not applied again when the watch's debounce settles.
  REQUIRE(d.reload(fixedConfig("generation three"), 3));
  CHECK(answer(d) == "generation three");
  std::this_thread::sleep_for(600ms);
  CHECK(d.log().find("config generation 4") == std::string::npos);

  auto unwatched = [](const std::string& text) {
    std::string config = fixedConfig(text);
    return config.replace(config.find("[server]\n"), 9, "[server]\nwatch_config = false\n");
  };
  DaemonProcess still(unwatched("generation one"));
  REQUIRE(still.waitReady());
  still.writeConfig(unwatched("generation two"));
  std::this_thread::sleep_for(600ms);
  CHECK(answer(still) == "generation one");
  CHECK(still.log().find("for changes") == std::string::npos);
}
