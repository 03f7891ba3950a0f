// What telemetry costs: the daemon on its default chain with its exporters off, then on (the
// SQLite trace store, with /metrics scraped every second as Prometheus would), in alternating
// rounds of the same load. Two loads: a fixed rate (open loop, --rate, default 5,000 requests a
// second, several times what a busy host's LLM traffic needs), where nothing may be lost: every
// answered request is a row in the store and the daemon dropped no record; then saturation
// (closed loop: every answer starts the next request), where the exporter thread sheds what it
// cannot store (counted). Prints p50/p99, throughput and CPU per request with the on/off ratios
// of the rounds' medians, and the p50 ratio paired round by round (each 'on' round against the
// 'off' round before it) with a 95% interval. With the test collector built, 'on' also exports
// over OTLP to a local Jaeger run at SCHED_IDLE: it stands in for a collector on another host,
// and at an equal share it took a third of this 2-core machine from the daemons being compared
// (its CPU is printed per phase). --sustain S adds one S-second run at the fixed rate (the
// 60-second acceptance run) with the same check; --outage S takes the collector down for S
// seconds in the middle of it (killed, then started again on the same port): every span the
// exporter encoded must still reach it, through the spool, and none be dropped.
// --control yes runs the 'off' config on both daemons (no collector): an A/A run whose ratios
// are this machine's noise floor. On a shared 2-core VM one round's p50 ratio ranges 0.3x-4x,
// and the host's speed drifts over seconds: judge the p50 on many short rounds (--seconds 0.5
// --rounds 80) by the paired median. --spin N runs N busy SCHED_IDLE threads during the 'on'
// rounds (with --control yes: what CPU work that never preempts a worker costs its latency).
//   exporter_bench [--seconds N] [--rounds N] [--connections N] [--workers N] [--rate R] [--sustain S]
//                  [--priority idle|low|normal] [--otlp no] [--control yes] [--load fixed|saturation|both]
//                  [--spin N] [--otlp-set "key = value"]...  (a line for the OTLP exporter's config)
//                  [--outage S]
#include <pthread.h>
#include <sched.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "load_driver.h"
#include "otlp/jaeger_process.h"
#include "support/daemon_process.h"

using namespace std::chrono;
using namespace outrigger::bench;

namespace {

struct Options : LoadOptions {
  int rounds = 5;
  int workers = 2;
  int connections = 16;
  double sustain = 0;
  double fixed_rate = 5000;
  std::string priority;  // [exporter] priority for the 'on' daemon; empty: the default
  std::string otlp_settings;  // --otlp-set lines for the OTLP exporter's config ("gzip = true")
  bool no_otlp = false;  // --otlp no: the SQLite store only, even with a collector at hand
  std::string load = "both";  // --load fixed|saturation|both
  bool control = false;  // --control yes: 'on' runs the 'off' config too (an A/A run: the noise floor)
  int spinners = 0;  // --spin N: N SCHED_IDLE busy threads run during the 'on' rounds
  double outage = 0;  // --outage S: the collector is down for S seconds mid-way through --sustain
};

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void replaceOnce(std::string* text, const std::string& from, const std::string& to) {
  size_t at = text->find(from);
  if (at == std::string::npos) {
    std::fprintf(stderr, "config/default.toml has no '%s'\n", from.c_str());
    std::exit(2);
  }
  text->replace(at, from.size(), to);
}

// The OTLP exporter's span counters as the collector last received them (pushed every second).
struct OtlpTally {
  double encoded = 0, exported = 0, dropped = 0, spooled = 0, rejected = 0;
};

// A series the collector has not received yet counts 0.
OtlpTally otlpTally(const outrigger::testing::JaegerProcess* jaeger) {
  if (!jaeger) return {};
  auto count = [&](const char* outcome) {
    return std::max(0.0, jaeger->metric("outrigger_otlp_spans_total", {"outcome=\"" + std::string(outcome) + "\""}));
  };
  return {count("encoded"), count("exported"), count("dropped"), count("spooled"), count("rejected")};
}

// What the 'on' daemon's OTLP exporter did over one load phase: spans exported per second of
// the phase's wall time (its 'off' rounds included: the exporter keeps draining meanwhile).
void printOtlpPhase(const OtlpTally& a, const OtlpTally& b, double seconds) {
  std::printf("OTLP over the phase (%.1f s): %.0f spans encoded, %.0f exported (%.0f spans/s), %.0f dropped\n", seconds,
              b.encoded - a.encoded, b.exported - a.exported, (b.exported - a.exported) / seconds, b.dropped - a.dropped);
}

// Polls the collector (every 100 ms, up to 3 minutes) until every span the 'on' daemon encoded
// was exported or dropped; false when that did not happen in time.
bool waitOtlpSettled(const outrigger::testing::JaegerProcess* jaeger, OtlpTally* t) {
  auto deadline = steady_clock::now() + seconds(180);
  while (steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(100));
    *t = otlpTally(jaeger);
    if (t->encoded > 0 && t->exported + t->dropped >= t->encoded) return true;
  }
  return false;
}

// How long after the load began every span the 'on' daemon encoded was exported or dropped: the
// exporter's sustained rate while it had a backlog.
void printOtlpDrain(const outrigger::testing::JaegerProcess* jaeger, steady_clock::time_point load_start) {
  OtlpTally t;
  bool settled = waitOtlpSettled(jaeger, &t);
  double took = duration<double>(steady_clock::now() - load_start).count();
  std::printf("OTLP drain: %.0f spans encoded, every one exported or dropped %s%.1f s after the load began "
              "(%.0f spans/s overall)\n", t.encoded, settled ? "" : "NOT within ", took, t.exported / took);
}

// The default config on `socket`, with an admin listener on `admin`, exporters on or off.
std::string configText(const std::string& socket, const std::string& admin, const std::string& store, bool on,
                       const std::string& priority, const std::string& otlp_endpoint, const std::string& spool,
                       const std::string& otlp_settings) {
  std::string text = readFile(std::string(OUTRIGGER_SOURCE_DIR) + "/config/default.toml");
  replaceOnce(&text, "[server]\n", "[admin]\nlisten = \"unix:" + admin + "\"\n\n[server]\nsocket = \"" + socket + "\"\n");
  replaceOnce(&text, "[instances.traces.config]\n", "[instances.traces.config]\npath = \"" + store + "\"\n");
  if (!on) replaceOnce(&text, "exporters = [\"traces\"]\n", "");
  if (on && !otlp_endpoint.empty()) {
    replaceOnce(&text, "exporters = [\"traces\"]\n", "exporters = [\"traces\", \"otel\"]\n");
    text += "\n[instances.otel]\ntype = \"exporter.otlp\"\n[instances.otel.config]\nendpoint = \"" + otlp_endpoint +
            "\"\nspool_path = \"" + spool + "\"\nmetrics_interval_ms = 1000\n" + otlp_settings;
  }
  if (!priority.empty()) replaceOnce(&text, "[admin]\n", "[exporter]\npriority = \"" + priority + "\"\n\n[admin]\n");
  return text;
}

// GET `path` over the admin server's Unix socket; the body.
std::string adminGet(const std::string& admin, const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", admin.c_str());
  std::string text;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    std::string get = "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    ::send(fd, get.data(), get.size(), MSG_NOSIGNAL);
    char buf[65536];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  size_t body = text.find("\r\n\r\n");
  return body == std::string::npos ? "" : text.substr(body + 4);
}

// The value of a series the daemon always renders. The admin server starts listening just after
// the request socket, so a first scrape can find nothing: it is retried, and the bench stops
// rather than take a missing reading for a value (a 'before' of -1 once read as one record
// dropped and one export failure that never happened).
double metric(const std::string& admin, const std::string& name) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string text = adminGet(admin, "/metrics");
    size_t at = text.find("\n" + name + " ");
    if (at != std::string::npos) return std::stod(text.substr(at + name.size() + 2));
    std::this_thread::sleep_for(milliseconds(100));
  }
  throw std::runtime_error("the admin server at " + admin + " answered no " + name + " in 10 s");
}

// One integer from the trace store, read the same way: retried, never a made-up value.
int64_t queryInt(const std::string& store, const char* sql) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    sqlite3* db = nullptr;
    sqlite3_stmt* s = nullptr;
    bool read = sqlite3_open_v2(store.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK &&
                sqlite3_prepare_v2(db, sql, -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW;
    int64_t n = read ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    sqlite3_close(db);
    if (read) return n;
    std::this_thread::sleep_for(milliseconds(100));
  }
  throw std::runtime_error("the trace store " + store + " could not be read in 10 s (" + sql + ")");
}

// Requests ever written to the store: the newest row id, since retention deletes the oldest rows
// while a long run goes on (ids only grow: the newest row is never the one deleted).
int64_t writtenRequests(const std::string& store) {
  return queryInt(store, "SELECT coalesce(max(id), 0) FROM requests");
}

int64_t storedRequests(const std::string& store) { return queryInt(store, "SELECT count(*) FROM requests"); }


// Scrapes /metrics every second while the load runs, as a Prometheus server would.
class Scraper {
 public:
  explicit Scraper(std::string admin) : admin_(std::move(admin)), thread_([this] { run(); }) {}
  ~Scraper() {
    stop_ = true;
    thread_.join();
  }

 private:
  void run() {
    while (!stop_) {
      adminGet(admin_, "/metrics");
      for (int i = 0; i < 10 && !stop_; ++i) std::this_thread::sleep_for(milliseconds(100));
    }
  }
  std::string admin_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The p50 ratio round by round: each 'on' round against the 'off' round just before it, so a
// slow drift of the host's speed (seconds long on a shared VM) cancels out. Prints the median
// with a distribution-free 95% interval (order statistics of the sorted ratios).
void printPairedP50(const std::vector<Result>& offs, const std::vector<Result>& ons) {
  std::vector<double> ratios;
  for (size_t i = 0; i < offs.size() && i < ons.size(); ++i) ratios.push_back(ons[i].p50_us / offs[i].p50_us);
  if (ratios.empty()) return;
  std::sort(ratios.begin(), ratios.end());
  const double n = static_cast<double>(ratios.size()), spread = 0.98 * std::sqrt(n);
  const size_t lo = static_cast<size_t>(std::max(0.0, std::floor(n / 2 - spread)));
  const size_t hi = std::min(ratios.size() - 1, static_cast<size_t>(std::ceil(n / 2 + spread)) - 1);
  std::printf("on/off p50 paired by round: median %.2fx, 95%% interval %.2fx-%.2fx over %zu rounds "
              "(each round's ratios: %.2fx-%.2fx)\n",
              ratios[ratios.size() / 2], ratios[lo], ratios[hi], ratios.size(), ratios.front(), ratios.back());
}

// Threads that only spin, at SCHED_IDLE, while they live: with --control yes, what CPU work that
// never preempts anyone costs the daemon's latency on this host (wake-ups of a busy CPU).
class IdleSpinners {
 public:
  explicit IdleSpinners(int n) {
    for (int i = 0; i < n; ++i) {
      threads_.emplace_back([this] {
        sched_param param{};
        pthread_setschedparam(pthread_self(), SCHED_IDLE, &param);
        volatile uint64_t spins = 0;
        while (!stop_.load(std::memory_order_relaxed)) spins = spins + 1;
      });
    }
  }
  ~IdleSpinners() {
    stop_ = true;
    for (auto& t : threads_) t.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

// What the store and the daemon's counters said before a phase, so a phase's losses are its own.
struct Tally {
  int64_t rows = 0;
  double dropped = 0, failed = 0;
};

// `store` empty: the 'on' daemon exports nothing (--control yes), so there are no rows to count.
Tally tally(const std::string& admin, const std::string& store) {
  return {store.empty() ? 0 : writtenRequests(store), metric(admin, "outrigger_records_dropped_total"),
          metric(admin, "outrigger_records_export_failures_total")};
}

// Waits for the exporter queue to drain and a commit.
void settle(const std::string& admin) {
  for (int i = 0; i < 200 && metric(admin, "outrigger_exporter_queue_depth") != 0; ++i) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  std::this_thread::sleep_for(milliseconds(1500));  // commits run every second
}

// The daemons' CPU over a whole phase per request each answered: unlike cpu_us/req (a median
// round's, in 10 ms ticks) it counts the exporters' work between rounds and after the last one.
void printPhaseCpu(const std::vector<Result>& offs, const std::vector<Result>& ons, double off_cpu_us, double on_cpu_us) {
  auto answered = [](const std::vector<Result>& rounds) {
    uint64_t n = 0;
    for (const Result& r : rounds) n += r.completed;
    return static_cast<double>(std::max<uint64_t>(n, 1));
  };
  double off = off_cpu_us / answered(offs), on = on_cpu_us / answered(ons);
  std::printf("the daemons' CPU over the phase per request answered: off %.1f us, on %.1f us (+%.1f us)\n", off, on, on - off);
}

// Why a busy exporter thread can slow requests at all: a thread made runnable (a worker when a
// request arrives, a client's reader thread when its answer does) waits for a CPU, and the exporters' threads and
// the collector lengthen that wait when the scheduler puts it on a CPU they hold, though they run
// at SCHED_IDLE (the kernel must interrupt them, and one inside a system call keeps the CPU until
// the call returns). Summed over each daemon's measured windows, per request answered in them.
void printRunQueueWait(const std::vector<Result>& offs, const std::vector<Result>& ons) {
  struct Sum {
    RunQueueWait workers, clients;
    double requests = 0;
  };
  auto sum = [](const std::vector<Result>& rounds) {
    Sum s;
    for (const Result& r : rounds) {
      s.workers += r.worker_wait;
      s.clients += r.client_wait;
      s.requests += static_cast<double>(r.measured);
    }
    s.requests = std::max(s.requests, 1.0);
    return s;
  };
  Sum off = sum(offs), on = sum(ons);
  auto line = [](const char* who, const RunQueueWait& a, double a_n, const RunQueueWait& b, double b_n) {
    auto per_run = [](const RunQueueWait& w) { return w.runs ? w.wait_us / static_cast<double>(w.runs) : 0.0; };
    std::printf("%s wait for a CPU once runnable, per request: off %.1f us, on %.1f us (%+.1f us); "
                "per run: off %.1f us, on %.1f us\n",
                who, a.wait_us / a_n, b.wait_us / b_n, b.wait_us / b_n - a.wait_us / a_n, per_run(a), per_run(b));
  };
  line("the workers'", off.workers, off.requests, on.workers, on.requests);
  std::printf("the workers' own CPU per request: off %.1f us, on %.1f us (%+.1f us)\n", off.workers.ran_us / off.requests,
              on.workers.ran_us / on.requests, (on.workers.ran_us / on.requests) - (off.workers.ran_us / off.requests));
  line("the clients' readers'", off.clients, off.requests, on.clients, on.requests);
}

// When a target was missed: the warnings and errors the 'on' daemon logged, which say why a
// record was dropped or an export failed (the slow-loop warnings aside), the last 30 of them.
void printProblems(const std::string& log) {
  std::ifstream in(log);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    bool problem = line.find(" warn [") != std::string::npos || line.find(" error [") != std::string::npos;
    if (problem && line.find("blocked the loop") == std::string::npos) lines.push_back(line);
  }
  if (lines.empty()) return;
  std::printf("\nthe 'on' daemon's warnings and errors (%zu, the last %zu):\n", lines.size(), std::min<size_t>(lines.size(), 30));
  for (size_t i = lines.size() > 30 ? lines.size() - 30 : 0; i < lines.size(); ++i) std::printf("  %s\n", lines[i].c_str());
}

// After a phase: whether every request it answered reached the store, and what was dropped.
bool checkNothingLost(const std::string& admin, const std::string& store, const Tally& before, uint64_t answered,
                      const char* what, bool must_keep_all) {
  if (store.empty()) return true;  // an A/A run: nothing exported, nothing to lose
  settle(admin);
  Tally after = tally(admin, store);
  int64_t rows = after.rows - before.rows;
  double dropped = after.dropped - before.dropped, failed = after.failed - before.failed;
  std::printf("%s: %llu answered, %lld stored, %.0f records dropped (%.1f%%), %.0f export failures%s\n", what,
              static_cast<unsigned long long>(answered), static_cast<long long>(rows), dropped,
              answered ? 100.0 * dropped / static_cast<double>(answered) : 0.0, failed,
              must_keep_all ? "   (target: every answer stored, none dropped)" : "");
  return !must_keep_all || (rows == static_cast<int64_t>(answered) && dropped == 0 && failed == 0);
}

int run(int argc, char** argv) {
  Options opt;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--seconds") opt.seconds = std::atof(argv[i + 1]);
    else if (a == "--rounds") opt.rounds = std::max(1, std::atoi(argv[i + 1]));
    else if (a == "--connections") opt.connections = std::max(1, std::atoi(argv[i + 1]));
    else if (a == "--workers") opt.workers = std::atoi(argv[i + 1]);
    else if (a == "--sustain") opt.sustain = std::atof(argv[i + 1]);
    else if (a == "--rate") opt.fixed_rate = std::atof(argv[i + 1]);
    else if (a == "--spin") opt.spinners = std::max(0, std::atoi(argv[i + 1]));
    else if (a == "--priority") opt.priority = argv[i + 1];
    else if (a == "--otlp") opt.no_otlp = std::string(argv[i + 1]) == "no";
    else if (a == "--load") opt.load = argv[i + 1];
    else if (a == "--control") opt.control = std::string(argv[i + 1]) == "yes";
    else if (a == "--otlp-set") opt.otlp_settings += std::string(argv[i + 1]) + "\n";
    else if (a == "--outage") opt.outage = std::max(0.0, std::atof(argv[i + 1]));
  }
  std::string dir = outrigger::testing::makeTempDir();
  struct RemoveDir {
    std::string dir;
    ~RemoveDir() { outrigger::testing::removeTempDir(dir); }
  } remove_dir{dir};  // last, after the daemons and the collector stopped
  ::setenv("XDG_STATE_HOME", dir.c_str(), 1);
  struct Side {
    const char* name;
    bool on;
    std::string socket = {}, admin = {}, store = {}, config = {}, log = {};
    pid_t pid = -1;
  };
  Side off{"off", false}, on{"on", true};
  // With the test collector built (deploy/setup.sh --test), 'on' also exports over OTLP to it.
  std::unique_ptr<outrigger::testing::JaegerProcess> jaeger;
  std::string otlp_endpoint;
  if (!opt.no_otlp && !opt.control && !outrigger::testing::JaegerProcess::binary().empty()) {
    ::mkdir((dir + "/jaeger").c_str(), 0755);
    jaeger = std::make_unique<outrigger::testing::JaegerProcess>(dir + "/jaeger");
    jaeger->setIdleOnly(true);  // a stand-in for a collector on another host: it takes the CPU the daemons leave
    if (!jaeger->start()) {
      std::fprintf(stderr, "the OTLP collector (Jaeger) did not start\n");
      return 2;
    }
    otlp_endpoint = jaeger->endpoint();
  }
  if (opt.outage > 0 && (!jaeger || opt.sustain <= 0)) {
    std::fprintf(stderr, "--outage needs --sustain and the test collector (deploy/setup.sh --test), with OTLP on\n");
    return 2;
  }
  // However the run ends (a failed reading throws), the daemons end with it.
  struct StopDaemons {
    Side* sides[2];
    ~StopDaemons() {
      for (Side* s : sides) {
        if (s->pid > 0) stop(s->pid);
      }
    }
  } stop_daemons{{&off, &on}};
  for (Side* s : {&off, &on}) {
    s->socket = dir + "/" + s->name + ".sock";
    s->admin = dir + "/" + s->name + "-admin.sock";
    s->store = dir + "/" + s->name + "-traces.db";
    s->config = dir + "/" + s->name + ".toml";
    std::ofstream(s->config) << configText(s->socket, s->admin, s->store, s->on && !opt.control, opt.priority, otlp_endpoint, dir + "/otlp-spool",
                                     opt.otlp_settings);
    s->log = dir + "/" + s->name + ".log";
    s->pid = spawn({OUTRIGGER_BIN, "serve", "--config", s->config, "--workers", std::to_string(opt.workers)}, s->log);
    if (waitAccepting(s->socket) < 0) {
      std::fprintf(stderr, "the daemon with exporters %s did not start\n", s->name);
      return 2;
    }
    metric(s->admin, "outrigger_ready");  // and its admin server answers, a moment later
  }

  const std::string kept = opt.control ? "" : on.store;  // where the 'on' daemon's records go
  std::printf("Exporter benchmark: default chain, %d worker(s), %d connection(s), median of %d alternating rounds "
              "of %.1f s; 'on' = SQLite trace store%s + /metrics scraped every second\n",
              opt.workers, opt.connections, opt.rounds, opt.seconds,
              otlp_endpoint.empty() ? "" : " + OTLP to a local Jaeger");
  bool ok = true;
  auto load_start = steady_clock::now();
  // The fixed rate first: saturation leaves the OTLP exporter a backlog (spooled) that drains for
  // a minute or more, and would be measured as the next phase's cost.
  for (double rate : {opt.fixed_rate, 0.0}) {
    if ((rate > 0 && opt.load == "saturation") || (rate == 0 && opt.load == "fixed")) continue;
    LoadOptions load = opt;
    load.rate = rate;
    if (rate > 0) std::printf("\nfixed rate: %.0f requests/s (open loop)\n", rate);
    else std::printf("\nsaturation (closed loop, 1 request in flight per connection)\n");
    std::printf("%-10s %10s %10s %12s %8s %10s\n", "exporters", "p50_us", "p99_us", "req_per_s", "errors", "cpu_us/req");
    Tally before = tally(on.admin, kept);
    OtlpTally otlp_before = otlpTally(jaeger.get());
    double collector_cpu = jaeger ? cpuUs(jaeger->pid()) : 0;
    double off_cpu = cpuUs(off.pid), on_cpu = cpuUs(on.pid);
    auto phase_start = steady_clock::now();
    std::vector<Result> offs, ons;
    for (int r = 0; r < opt.rounds; ++r) {
      offs.push_back(drive(off.socket, off.pid, opt.connections, load));
      Scraper scraper(on.admin);
      IdleSpinners spinners(opt.spinners);
      ons.push_back(drive(on.socket, on.pid, opt.connections, load));
    }
    Result a = median(offs), b = median(ons);
    for (auto [name, r] : {std::pair<const char*, Result&>{"off", a}, {"on", b}}) {
      std::printf("%-10s %10.1f %10.1f %12.0f %8llu %10.2f\n", name, r.p50_us, r.p99_us, r.rps,
                  static_cast<unsigned long long>(r.errors), r.cpu_us);
    }
    std::printf("%-10s %9.2fx %9.2fx %11.2fx %8s %9.2fx   (targets: p50 <= 1.10x, throughput >= 0.90x)\n", "on/off",
                b.p50_us / a.p50_us, b.p99_us / a.p99_us, b.rps / a.rps, "", b.cpu_us / a.cpu_us);
    printPairedP50(offs, ons);
    ok = ok && a.errors == 0 && b.errors == 0;
    ok = checkNothingLost(on.admin, kept, before, b.completed, rate > 0 ? "fixed rate" : "saturation", rate > 0) && ok;
    printPhaseCpu(offs, ons, cpuUs(off.pid) - off_cpu, cpuUs(on.pid) - on_cpu);
    printRunQueueWait(offs, ons);
    if (jaeger) {
      double took = duration<double>(steady_clock::now() - phase_start).count();
      printOtlpPhase(otlp_before, otlpTally(jaeger.get()), took);
      std::printf("the collector used %.2f cores over the phase (at SCHED_IDLE)\n", (cpuUs(jaeger->pid()) - collector_cpu) / 1e6 / took);
    }
  }

  OtlpTally otlp_before_sustain;
  if (opt.sustain > 0) {
    LoadOptions sustained = opt;
    sustained.seconds = opt.sustain;
    sustained.rate = opt.fixed_rate;
    Tally before = tally(on.admin, kept);
    otlp_before_sustain = otlpTally(jaeger.get());
    Result s;
    double outage = std::min(opt.outage, opt.sustain);
    double down_at = (opt.sustain - outage) / 2;
    bool back = true;
    {
      Scraper scraper(on.admin);
      IdleSpinners spinners(opt.spinners);
      // The collector goes away mid-run and comes back: what the exporter cannot send meanwhile
      // waits in its spool.
      std::thread collector_outage;
      if (outage > 0) {
        collector_outage = std::thread([&] {
          std::this_thread::sleep_for(duration<double>(down_at));
          jaeger->kill();
          std::this_thread::sleep_for(duration<double>(outage));
          back = jaeger->start();
        });
      }
      s = drive(on.socket, on.pid, opt.connections, sustained);
      if (collector_outage.joinable()) collector_outage.join();
    }
    std::printf("\nsustained %.0f s at %.0f requests/s: p50 %.1f us, p99 %.1f us, %.0f req/s, %llu errors\n", opt.sustain,
                opt.fixed_rate, s.p50_us, s.p99_us, s.rps, static_cast<unsigned long long>(s.errors));
    if (outage > 0) {
      std::printf("the collector was down from %.0f s to %.0f s of it (killed, then started again%s)\n", down_at,
                  down_at + outage, back ? "" : ": IT DID NOT START");
      ok = ok && back;
    }
    ok = checkNothingLost(on.admin, kept, before, s.completed, "sustained", true) && ok && s.errors == 0;
  }
  if (jaeger) printOtlpDrain(jaeger.get(), load_start);
  if (jaeger) {
    std::this_thread::sleep_for(milliseconds(2500));  // the exporter's last metrics push
    OtlpTally t = otlpTally(jaeger.get());
    std::printf("OTLP spans, as the exporter counted them at the collector: %.0f encoded, %.0f exported, %.0f spooled, "
                "%.0f dropped, %.0f rejected%s\n",
                t.encoded, t.exported, t.spooled, t.dropped, t.rejected,
                opt.outage > 0 ? "   (target with an outage: every encoded span exported, none dropped)" : "");
    if (opt.outage > 0) {
      // The outage must have reached the exporter (spans went to the spool while the load ran),
      // and every span it encoded reached the collector.
      double spooled = t.spooled - otlp_before_sustain.spooled;
      std::printf("spooled during the sustained run: %.0f spans%s\n", spooled, spooled > 0 ? "" : ": THE OUTAGE DID NOT REACH THE EXPORTER");
      ok = ok && spooled > 0 && t.encoded > 0 && t.dropped == 0 && t.exported == t.encoded;
    }
  }
  if (!kept.empty()) {
    std::printf("trace store after the run: %lld requests, %.1f MiB\n", static_cast<long long>(storedRequests(kept)),
                static_cast<double>(std::ifstream(kept, std::ios::ate | std::ios::binary).tellg()) / (1 << 20));
  }
  for (Side* s : {&off, &on}) {
    stop(s->pid);
    s->pid = -1;
  }
  if (!ok) printProblems(on.log);
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "exporter_bench: %s\n", e.what());
    return 2;
  }
}
