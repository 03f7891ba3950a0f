// Scale benchmark: many concurrent connections, each making requests, on both fronts.
//   socket: N connections (default 10,000) to the Unix socket, each sending Hello and then
//           requests one after another for --seconds; every answer must be OK.
//   http:   M keep-alive connections (default 2,000) to the HTTP front doing the same with
//           POST /v1/chat/completions.
// It prints requests, failures, connections that never got an answer, latency percentiles and the
// daemon's RSS idle, with every connection open, and per connection. Exit code 1 when any request
// failed or any connection went unanswered.
//   scale_bench [--connections N] [--http-connections M] [--seconds S] [--only socket|http]
// The process raises its own descriptor limit; the hard limit must allow N + a few hundred.
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <http_parser.h>

#include "outrigger_generated.h"
#include "support/daemon_process.h"
#include "support/frames.h"
#include "support/raw_http.h"

using namespace std::chrono;
using outrigger::testing::basicConfig;
using outrigger::testing::DaemonProcess;
namespace wire = outrigger::wire;

namespace {

struct Options {
  int connections = 10000;
  int http_connections = 2000;
  double seconds = 10;
  std::string only;
};

// One client connection driven by the epoll loop: a request out, its answer in, the next out.
struct Conn {
  int fd = -1;
  std::string in;
  uint64_t next_stream = 1;
  steady_clock::time_point sent_at;
  uint64_t answered = 0;
  uint64_t failed = 0;
  bool closed = false;
  // HTTP only: the response parser and whether the current response is complete.
  http_parser parser{};
  bool message_done = false;
  int status = 0;
};

struct Totals {
  uint64_t answered = 0, failed = 0, closed = 0, never_answered = 0;
  double seconds = 0, connect_s = 0;
  std::vector<double> latencies_us;
};

bool sendAll(int fd, const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      std::this_thread::sleep_for(100us);  // a small frame on a full buffer: rare, wait it out
    } else {
      return false;
    }
  }
  return true;
}

void setNonBlocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

int connectUnix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  // A full accept backlog makes a blocking connect wait, which is the pacing wanted here.
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// What a front needs from the driver: the first bytes of a connection, the next request, and
// taking complete answers out of the connection's input (true: one answer taken, ok says how).
struct Front {
  virtual ~Front() = default;
  virtual std::string opening(Conn&) = 0;
  virtual std::string request(Conn&) = 0;
  virtual bool takeAnswer(Conn&, bool* ok) = 0;
};

struct SocketFront : Front {
  SocketFront() { spec.messages = {{"user", "scale"}}; }
  outrigger::testing::RequestSpec spec;
  std::string opening(Conn& c) override { return outrigger::testing::helloFrame() + request(c); }
  std::string request(Conn& c) override {
    return outrigger::testing::requestFrame(c.next_stream++, spec);
  }
  bool takeAnswer(Conn& c, bool* ok) override {
    while (c.in.size() >= 4) {
      uint32_t len;
      std::memcpy(&len, c.in.data(), 4);
      if (c.in.size() < 4 + len) return false;
      outrigger::testing::AlignedFrame f(c.in.substr(0, 4 + len));
      c.in.erase(0, 4 + len);
      const wire::Frame* frame = flatbuffers::GetSizePrefixedRoot<wire::Frame>(f.data());
      if (frame->body_type() == wire::Body::ResponseEnd) {
        const auto* end = frame->body_as_ResponseEnd();
        *ok = end->status() == wire::Status::OK && end->content() && end->content()->str() == "scale";
        return true;
      }
      if (frame->body_type() == wire::Body::Error || frame->body_type() == wire::Body::GoAway) {
        *ok = false;
        return true;
      }
    }
    return false;
  }
};

struct HttpFront : Front {
  explicit HttpFront(int port) : port(port) {
    std::memset(&settings, 0, sizeof settings);
    settings.on_status = [](http_parser* p, const char*, size_t) {
      static_cast<Conn*>(p->data)->status = static_cast<int>(p->status_code);
      return 0;
    };
    settings.on_message_complete = [](http_parser* p) {
      static_cast<Conn*>(p->data)->message_done = true;
      return 0;
    };
  }
  std::string opening(Conn& c) override { return request(c); }
  std::string request(Conn& c) override {
    http_parser_init(&c.parser, HTTP_RESPONSE);
    c.parser.data = &c;
    c.message_done = false;
    return "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }
  bool takeAnswer(Conn& c, bool* ok) override {
    size_t used = http_parser_execute(&c.parser, &settings, c.in.data(), c.in.size());
    if (HTTP_PARSER_ERRNO(&c.parser) != HPE_OK) {
      c.in.clear();
      *ok = false;
      return true;
    }
    c.in.erase(0, used);
    if (!c.message_done) return false;
    *ok = c.status == 200;
    return true;
  }
  int port;
  http_parser_settings settings;
  std::string body = R"({"model":"default","messages":[{"role":"user","content":"scale"}]})";
};

// Opens `count` connections, sends each its opening, then keeps one request in flight on each
// for `seconds`. Connections stay open when it returns (closed by the caller through `conns`).
Totals drive(Front& front, std::vector<Conn>& conns, int count, double seconds,
             const std::function<int()>& connect) {
  Totals t;
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  conns.resize(static_cast<size_t>(count));
  auto t0 = steady_clock::now();
  for (int i = 0; i < count; ++i) {
    Conn& c = conns[static_cast<size_t>(i)];
    c.fd = connect();
    if (c.fd < 0) {
      c.closed = true;
      continue;
    }
    setNonBlocking(c.fd);
    epoll_event ev{EPOLLIN, {.ptr = &c}};
    ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    c.sent_at = steady_clock::now();
    if (!sendAll(c.fd, front.opening(c))) c.closed = true;
  }
  t.connect_s = duration<double>(steady_clock::now() - t0).count();
  auto until = steady_clock::now() + duration<double>(seconds);
  std::vector<epoll_event> events(1024);
  char buf[16384];
  size_t open = static_cast<size_t>(std::count_if(conns.begin(), conns.end(), [](const Conn& c) { return !c.closed; }));
  auto finish = [&](Conn& c) {
    c.closed = true;
    --open;
  };
  // Runs past `until` only to collect the answers still in flight (up to 10 s).
  while (open > 0 && steady_clock::now() < until + 10s) {
    int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
    bool stopping = steady_clock::now() >= until;
    for (int e = 0; e < n; ++e) {
      Conn& c = *static_cast<Conn*>(events[static_cast<size_t>(e)].data.ptr);
      ssize_t got = ::recv(c.fd, buf, sizeof buf, 0);
      if (got <= 0) {
        if (got < 0 && errno == EAGAIN) continue;
        ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
        finish(c);
        continue;
      }
      c.in.append(buf, static_cast<size_t>(got));
      bool ok = false;
      while (front.takeAnswer(c, &ok)) {
        t.latencies_us.push_back(duration<double, std::micro>(steady_clock::now() - c.sent_at).count());
        ok ? ++c.answered : ++c.failed;
        if (stopping) {
          // Finished: leave it open (idle) so RSS can be read with every connection held.
          ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
          finish(c);
          c.fd = -c.fd - 2;  // keep the descriptor to close later; mark it done
          break;
        }
        c.sent_at = steady_clock::now();
        if (!sendAll(c.fd, front.request(c))) {
          ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
          finish(c);
          break;
        }
      }
    }
  }
  t.seconds = duration<double>(steady_clock::now() - t0).count() - t.connect_s;
  for (const Conn& c : conns) {
    t.answered += c.answered;
    t.failed += c.failed;
    if (c.answered == 0) ++t.never_answered;
    if (c.closed && c.fd >= 0) ++t.closed;  // closed by the peer, not by us
  }
  ::close(ep);
  return t;
}

void closeAll(std::vector<Conn>& conns) {
  for (Conn& c : conns) {
    int fd = c.fd >= 0 ? c.fd : -c.fd - 2;
    if (fd >= 0) ::close(fd);
  }
  conns.clear();
}

double percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  size_t k = static_cast<size_t>(q * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

bool report(const char* front, int count, Totals& t, long idle_kb, long held_kb) {
  double p50 = percentile(t.latencies_us, 0.50), p99 = percentile(t.latencies_us, 0.99);
  std::printf("%-7s %6d conns  connect %.2f s  %9llu answers  %7.0f req/s  p50 %7.0f us  p99 %8.0f us  "
              "failed %llu  never answered %llu  closed by daemon %llu\n",
              front, count, t.connect_s, (unsigned long long)t.answered, t.answered / std::max(t.seconds, 1e-9), p50,
              p99, (unsigned long long)t.failed, (unsigned long long)t.never_answered, (unsigned long long)t.closed);
  std::printf("%-7s RSS idle %ld KB, with every connection open %ld KB: %.1f KB per connection\n", front, idle_kb,
              held_kb, double(held_kb - idle_kb) / std::max(count, 1));
  return t.failed == 0 && t.never_answered == 0 && t.closed == 0;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--connections") o.connections = std::atoi(argv[i + 1]);
    else if (k == "--http-connections") o.http_connections = std::atoi(argv[i + 1]);
    else if (k == "--seconds") o.seconds = std::atof(argv[i + 1]);
    else if (k == "--only") o.only = argv[i + 1];
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);
  int largest = std::max(o.connections, o.http_connections) + 256;
  if (rl.rlim_cur < static_cast<rlim_t>(largest)) {
    std::fprintf(stderr, "scale_bench: the descriptor limit (%llu) is below %d\n", (unsigned long long)rl.rlim_cur,
                 largest);
    return 2;
  }
  std::string limits = std::to_string(o.connections + 64);
  std::string http_limits = std::to_string(o.http_connections + 64);
  std::string config = basicConfig("mode = \"echo\"",
                                   "[http]\nlisten = \"127.0.0.1:0\"\nmax_connections = " + http_limits + "\n");
  config.replace(0, std::strlen("[server]\n"),
                 "[server]\nmax_connections = " + limits + "\nmax_connections_per_peer = 0\n");
  std::printf("scale_bench: %.0f s of requests per front, one in flight per connection, echo mock provider, "
              "a fresh daemon per front\n", o.seconds);
  bool ok = true;
  // Each front gets its own daemon, so its idle RSS is not the previous front's high-water mark.
  auto phase = [&](const char* name, int count, auto makeFront, auto connect) {
    DaemonProcess d(config);
    if (!d.waitReady()) {
      std::fprintf(stderr, "scale_bench: the daemon did not start:\n%s\n", d.log().c_str());
      ok = false;
      return;
    }
    int port = outrigger::testing::httpPort(d);
    auto front = makeFront(port);
    std::vector<Conn> conns;
    long idle = d.rssKb();
    Totals t = drive(*front, conns, count, o.seconds, [&] { return connect(d, port); });
    long held = d.rssKb();
    ok &= report(name, count, t, idle, held);
    closeAll(conns);
    if (!d.alive()) {
      std::printf("scale_bench: the daemon died\n");
      ok = false;
    }
  };
  if (o.only.empty() || o.only == "socket") {
    phase("socket", o.connections, [](int) { return std::make_unique<SocketFront>(); },
          [](DaemonProcess& d, int) { return connectUnix(d.socket()); });
  }
  if (o.only.empty() || o.only == "http") {
    phase("http", o.http_connections,
          [](int port) { return std::make_unique<HttpFront>(port); },
          [](DaemonProcess&, int port) { return outrigger::testing::connectLoopback(port); });
  }
  return ok ? 0 : 1;
}
