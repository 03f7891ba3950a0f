// Who a socket client is comes from the kernel (SO_PEERCRED), not from what it writes: tenants
// by peer rule, a socket path another user holds, the private runtime directory, and the
// client's check of who serves. Tests that act as a second uid (nobody) need root; elsewhere
// they say so and pass without asserting.
#include <catch2/catch.hpp>

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include <outrigger/client.h>

#include "ipc/runtime_dir.h"
#include "outrigger_generated.h"
#include "support/daemon_process.h"
#include "support/sdk_requests.h"

using namespace outrigger;
using namespace outrigger::testing;
using namespace std::chrono_literals;

namespace {

constexpr uid_t kNobody = 65534;

bool haveRoot() {
  if (::geteuid() == 0) return true;
  WARN("not root: the second-uid part of this test cannot run here");
  return false;
}

// Runs `work` in a child process as uid/gid nobody and returns what it printed.
std::string asNobody(const std::function<std::string()>& work) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    if (::setgroups(0, nullptr) != 0 || ::setresgid(kNobody, kNobody, kNobody) != 0 ||
        ::setresuid(kNobody, kNobody, kNobody) != 0) {
      ::_exit(3);
    }
    std::string out = work();
    (void)!::write(fds[1], out.data(), out.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  return out;
}

const wire::Frame* frameOf(const AlignedFrame& f) { return wire::GetSizePrefixedFrame(f.data()); }

// One request as `tenant` over a raw connection: "OK" or the status name and message.
std::string callAs(const std::string& socket, const std::string& tenant) {
  RawConnection raw(socket);
  if (!raw.connected() || !raw.send(helloFrame()) || !raw.readFrame()) return "no connection";
  raw.send(requestFrame(1, {.messages = {{"user", "hi"}}, .tenant = tenant}));
  auto f = raw.readFrame();
  if (!f) return "no answer";
  const auto* end = frameOf(*f)->body_as_ResponseEnd();
  if (!end) return "not an end";
  return std::string(wire::EnumNameStatus(end->status())) + (end->message() ? ": " + end->message()->str() : "");
}

// The daemon on a socket others can reach (mode 0666 in a 0755 directory), recording tenants.
std::string sharedSocketConfig(const std::string& server_extra) {
  std::string base = basicConfig("mode = \"echo\"",
                                 "exporters = [\"log\"]\n[instances.log]\ntype = \"exporter.jsonl\"\n"
                                 "[instances.log.config]\npath = \"@DIR@/records.jsonl\"\n");
  size_t plugins = base.find("[plugins]");  // peer rules are tables: they go after the [server] keys
  return "[server]\nsocket_mode = \"0666\"\n" + base.substr(std::string("[server]\n").size(),
                                                            plugins - std::string("[server]\n").size()) +
         server_extra + base.substr(plugins);
}

std::string records(const DaemonProcess& d) {
  for (int i = 0; i < 200; ++i) {
    std::ifstream in(d.dir() + "/records.jsonl");
    std::stringstream ss;
    ss << in.rdbuf();
    if (!ss.str().empty()) return ss.str();
    std::this_thread::sleep_for(10ms);
  }
  return "";
}

}  // namespace

TEST_CASE("a peer of another uid gets only its own tenant unless a peer rule grants more") {
  if (!haveRoot()) return;
  {
    DaemonProcess d(sharedSocketConfig(""));
    ::chmod(d.dir().c_str(), 0755);
    REQUIRE(d.waitReady());
    std::string claimed = asNobody([&] { return callAs(d.socket(), "team-a"); });
    CHECK(claimed.rfind("PERMISSION_DENIED", 0) == 0);
    CHECK(claimed.find("uid 65534") != std::string::npos);
    CHECK(claimed.find("'uid:65534'") != std::string::npos);
    CHECK(asNobody([&] { return callAs(d.socket(), ""); }) == "OK");
    CHECK(records(d).find("\"tenant\":\"uid:65534\"") != std::string::npos);
    CHECK(callAs(d.socket(), "team-a") == "OK");  // the daemon's own uid may name any tenant
    CHECK(d.log().find("refused a request: tenant 'team-a' is not allowed for uid 65534") != std::string::npos);
  }
  {
    DaemonProcess d(sharedSocketConfig(
        "[[server.peers]]\nuid = 65534\ntenants = [\"team-b\", \"team-c\"]\ndefault_tenant = \"team-c\"\n"));
    ::chmod(d.dir().c_str(), 0755);
    REQUIRE(d.waitReady());
    CHECK(asNobody([&] { return callAs(d.socket(), "team-b"); }) == "OK");
    CHECK(asNobody([&] { return callAs(d.socket(), "team-a"); }).rfind("PERMISSION_DENIED", 0) == 0);
    CHECK(asNobody([&] { return callAs(d.socket(), ""); }) == "OK");
    std::string log = records(d);
    CHECK(log.find("\"tenant\":\"team-b\"") != std::string::npos);
    for (int i = 0; i < 100 && log.find("team-c") == std::string::npos; ++i) {
      std::this_thread::sleep_for(10ms);
      log = records(d);
    }
    CHECK(log.find("\"tenant\":\"team-c\"") != std::string::npos);
  }
}

TEST_CASE("a socket path another user holds is neither served on nor removed") {
  if (!haveRoot()) return;
  std::string dir = makeTempDir();
  ::chmod(dir.c_str(), 01777);  // like /tmp: anyone may create, nobody may remove others' files
  std::string path = dir + "/o.sock";
  asNobody([&] {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);  // a stale socket: the old daemon would have removed it and served
    return std::string(ok ? "bound" : "failed");
  });
  struct stat st;
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  REQUIRE(st.st_uid == kNobody);
  DaemonProcess d(basicConfig(), "--socket " + path);
  CHECK(d.waitExit(10s) == 1);
  CHECK(d.log().find("belongs to uid 65534") != std::string::npos);
  CHECK(::lstat(path.c_str(), &st) == 0);  // still there: not removed
  outrigger::testing::removeTempDir(dir);
}

TEST_CASE("without a configured socket the daemon serves in a private runtime directory, and clients find and check it") {
  std::string runtime = makeTempDir();
  std::string config = basicConfig();
  config.replace(config.find("socket = \"@SOCKET@\"\n"), std::string("socket = \"@SOCKET@\"\n").size(), "");
  DaemonProcess d(config, "", "export XDG_RUNTIME_DIR=" + runtime + "; unset OUTRIGGER_SOCKET; ");
  d.setSocket(runtime + "/outrigger/outrigger.sock");
  REQUIRE(d.waitReady());
  struct stat st;
  REQUIRE(::stat((runtime + "/outrigger").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0750);

  ::setenv("XDG_RUNTIME_DIR", runtime.c_str(), 1);
  ::unsetenv("OUTRIGGER_SOCKET");
  auto resolved = client::resolveSocketPath("");
  CHECK(resolved.path == d.socket());
  CHECK(resolved.is_default);
  {
    client::Client c;  // the default path, verified: the server runs as this uid
    auto r = c.chat(ask("found it"));
    REQUIRE(r.ok());
    CHECK(r.value().content == "found it");
  }
  {
    client::Client::Options o;
    o.expected_server_uid = ::geteuid() + 12345;
    client::Client c(o);
    auto r = c.chat(ask("never sent"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == client::StatusCode::kPermissionDenied);
    CHECK(r.error().message.find("not trusted") != std::string::npos);
  }
  ::unsetenv("XDG_RUNTIME_DIR");
  outrigger::testing::removeTempDir(runtime);
}

// The other SDKs look at the default candidates again before every connection; the C++ client
// chose once, when it was made, and never found a sidecar that came up on another candidate.
TEST_CASE("the C++ client looks for the default socket again at each connection") {
  struct stat st;
  if (::lstat("/run/outrigger/outrigger.sock", &st) == 0) {
    WARN("not run: a system sidecar serves the second candidate here");
    return;
  }
  std::string empty_runtime = makeTempDir(), runtime = makeTempDir();
  ::setenv("XDG_RUNTIME_DIR", empty_runtime.c_str(), 1);
  ::unsetenv("OUTRIGGER_SOCKET");
  client::Client c;  // nothing serves yet: the first candidate, in the empty runtime directory
  std::string config = basicConfig();
  config.replace(config.find("socket = \"@SOCKET@\"\n"), std::string("socket = \"@SOCKET@\"\n").size(), "");
  DaemonProcess d(config, "", "export XDG_RUNTIME_DIR=" + runtime + "; unset OUTRIGGER_SOCKET; ");
  d.setSocket(runtime + "/outrigger/outrigger.sock");
  REQUIRE(d.waitReady());
  ::setenv("XDG_RUNTIME_DIR", runtime.c_str(), 1);  // where the candidates are now
  auto r = c.chat(ask("found later"));
  INFO((r.ok() ? std::string() : r.error().message));
  REQUIRE(r.ok());
  CHECK(r.value().content == "found later");
  ::unsetenv("XDG_RUNTIME_DIR");
  outrigger::testing::removeTempDir(empty_runtime);
  outrigger::testing::removeTempDir(runtime);
}

TEST_CASE("a runtime directory another user created is refused, naming its owner") {
  std::string base = makeTempDir();
  auto fresh = ipc::prepareSocketPathIn({base + "/mine"});
  REQUIRE(fresh.ok());
  CHECK(fresh.value() == base + "/mine/outrigger.sock");
  ::chmod((base + "/mine").c_str(), 0770);  // writable by its group: refused
  CHECK_FALSE(ipc::prepareSocketPathIn({base + "/mine"}).ok());
  if (haveRoot()) {
    REQUIRE(::mkdir((base + "/theirs").c_str(), 0750) == 0);
    REQUIRE(::chown((base + "/theirs").c_str(), kNobody, kNobody) == 0);
    auto refused = ipc::prepareSocketPathIn({base + "/theirs"});
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.status().message().find("belongs to uid 65534") != std::string::npos);
    auto next = ipc::prepareSocketPathIn({base + "/theirs", base + "/fallback"});
    REQUIRE(next.ok());
    CHECK(next.value() == base + "/fallback/outrigger.sock");
  }
  outrigger::testing::removeTempDir(base);
}
