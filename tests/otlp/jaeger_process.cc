#include "otlp/jaeger_process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <rapidjson/document.h>

#include "providers/curl_call.h"
#include "support/child_process.h"
#include "support/loopback_ports.h"

namespace outrigger::testing {
namespace {

bool accepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

bool executable(const std::string& path) {
  struct stat st {};
  return !path.empty() && ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

}  // namespace

std::string JaegerProcess::binary() {
  const char* env = std::getenv("OUTRIGGER_JAEGER_BIN");
  std::string path = env && *env ? env : std::string(OUTRIGGER_SOURCE_DIR) + "/build/tools/jaeger";
  return executable(path) ? path : std::string();
}

JaegerProcess::JaegerProcess(const std::string& dir)
    : dir_(dir), config_path_(dir + "/jaeger.yaml"), log_path_(dir + "/jaeger.log") {
  // Below the ephemeral range: Jaeger is restarted on these ports while clients retry them.
  std::vector<int> ports = stablePorts(4);
  otlp_port_ = ports[0];
  query_port_ = ports[1];
  grpc_port_ = ports[2];
  metrics_port_ = ports[3];
  auto at = [](int port) { return "127.0.0.1:" + std::to_string(port); };
  std::ofstream(config_path_) << "service:\n"
                                 "  extensions: [jaeger_storage, jaeger_query]\n"
                                 "  pipelines:\n"
                                 "    traces:\n"
                                 "      receivers: [otlp]\n"
                                 "      exporters: [jaeger_storage_exporter]\n"
                                 "    metrics:\n"
                                 "      receivers: [otlp]\n"
                                 "      exporters: [prometheus]\n"
                                 "    logs:\n"
                                 "      receivers: [otlp]\n"
                                 "      exporters: [debug]\n"
                                 "  telemetry:\n"
                                 "    metrics:\n"
                                 "      level: none\n"
                                 "    logs:\n"
                                 "      level: warn\n"
                                 "extensions:\n"
                                 "  jaeger_query:\n"
                                 "    storage:\n"
                                 "      traces: memstore\n"
                                 "    http:\n"
                                 "      endpoint: " << at(query_port_) << "\n"
                              << "    grpc:\n"
                                 "      endpoint: " << at(grpc_port_) << "\n"
                              << "  jaeger_storage:\n"
                                 "    backends:\n"
                                 "      memstore:\n"
                                 "        memory:\n"
                                 "          max_traces: 100000\n"
                                 "receivers:\n"
                                 "  otlp:\n"
                                 "    protocols:\n"
                                 "      http:\n"
                                 "        endpoint: " << at(otlp_port_) << "\n"
                              << "exporters:\n"
                                 "  jaeger_storage_exporter:\n"
                                 "    trace_storage: memstore\n"
                                 "  prometheus:\n"
                                 "    endpoint: " << at(metrics_port_) << "\n"
                              << "  debug:\n"
                                 "    verbosity: detailed\n"
                                 "    use_internal_logger: false\n";
}

JaegerProcess::~JaegerProcess() { kill(); }

bool JaegerProcess::start(std::chrono::milliseconds timeout) {
  kill();
  std::string bin = binary();
  if (bin.empty()) return false;
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ == 0) {
    outrigger::testing::endWithParent(parent);
    FILE* log = std::fopen(log_path_.c_str(), "a");
    if (log) {
      ::dup2(fileno(log), STDOUT_FILENO);
      ::dup2(fileno(log), STDERR_FILENO);
    }
    sched_param param{};
    if (idle_only_ && ::sched_setscheduler(0, SCHED_IDLE, &param) != 0) ::_exit(126);
    ::execl(bin.c_str(), bin.c_str(), "--config", config_path_.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    if (accepts(otlp_port_) && accepts(query_port_) && accepts(metrics_port_)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

void JaegerProcess::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string JaegerProcess::endpoint() const { return "http://127.0.0.1:" + std::to_string(otlp_port_); }

std::vector<OtlpSpan> JaegerProcess::trace(const std::string& trace_id) const {
  CurlReply r = curlCall("http://127.0.0.1:" + std::to_string(query_port_) + "/api/v3/traces/" + trace_id);
  if (r.status != 200) return {};
  rapidjson::Document d;
  d.Parse(r.body.c_str(), r.body.size());
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("result")) return {};
  return otlpSpans(d["result"]);
}

std::vector<OtlpSpan> JaegerProcess::waitForTrace(const std::string& trace_id, size_t spans,
                                                  std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<OtlpSpan> got;
  while (std::chrono::steady_clock::now() < deadline) {
    got = trace(trace_id);
    if (got.size() >= spans) return got;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return got;
}

std::string JaegerProcess::metricsText() const {
  return curlCall("http://127.0.0.1:" + std::to_string(metrics_port_) + "/metrics").body;
}

double JaegerProcess::metric(const std::string& name, const std::vector<std::string>& labels) const {
  std::istringstream in(metricsText());
  double sum = -1;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + "{", 0) != 0 && line.rfind(name + " ", 0) != 0) continue;
    bool all = true;
    for (const auto& l : labels) all = all && line.find(l) != std::string::npos;
    size_t space = line.rfind(' ');
    if (!all || space == std::string::npos) continue;
    sum = (sum < 0 ? 0 : sum) + std::stod(line.substr(space + 1));
  }
  return sum;
}

std::string JaegerProcess::log() const {
  std::ifstream in(log_path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string randomHex(size_t digits) {
  static std::mt19937_64 rng(std::random_device{}());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(digits, '0');
  for (char& c : s) c = kHex[rng() & 0xf];
  if (s.find_first_not_of('0') == std::string::npos) s[0] = '1';
  return s;
}

}  // namespace outrigger::testing
