// command: an external scorer. Per case it is started with `command` as argv, gets one JSON
// object on stdin {"case": <the dataset line>, "output", "tool_calls", "latency_ms", "cost_usd"},
// and must print {"pass": bool, "score": number, "reason": string} and exit 0 within timeout_ms.
// Anything else (a crash, a timeout, other output) is a runtime error of the case.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>

#include "bounded_json.h"
#include "common/utf8.h"
#include "eval/json_text.h"
#include "eval/scorer.h"

namespace outrigger::eval {

namespace {

constexpr size_t kMaxOutputBytes = 1u << 20;

struct Exchange {
  int exit_status = -1;
  bool timed_out = false;
  std::string out;
};

std::string inputJson(const EvalCase& c, const CaseOutput& out) {
  rapidjson::Document doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  rapidjson::Document line;
  if (json::parse(c.line_json, &line)) doc.AddMember("case", rapidjson::Value(line, a), a);
  doc.AddMember("output", stringValue(out.content, a), a);
  rapidjson::Value calls(rapidjson::kArrayType);
  for (const auto& t : out.tool_calls) {
    rapidjson::Value call(rapidjson::kObjectType);
    call.AddMember("name", stringValue(t.name, a), a);
    call.AddMember("arguments", stringValue(t.arguments, a), a);
    calls.PushBack(call, a);
  }
  doc.AddMember("tool_calls", calls, a);
  doc.AddMember("latency_ms", out.latency_ms, a);
  doc.AddMember("cost_usd", out.cost_usd, a);
  return toJson(doc) + "\n";
}

// Feeds `input` to the child's stdin and collects its stdout until it closes, or the deadline.
void pump(int in_fd, int out_fd, const std::string& input, std::chrono::steady_clock::time_point deadline, Exchange* ex) {
  size_t written = 0;
  char buf[8192];
  while (out_fd >= 0) {
    pollfd fds[2] = {{out_fd, POLLIN, 0}, {in_fd, POLLOUT, 0}};
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
    if (left <= 0 || ::poll(fds, in_fd >= 0 ? 2 : 1, left) == 0) {
      ex->timed_out = true;
      break;
    }
    if (in_fd >= 0 && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t n = ::write(in_fd, input.data() + written, input.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      if (n < 0 || written == input.size()) ::close(in_fd), in_fd = -1;
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(out_fd, buf, sizeof buf);
      if (n <= 0 || ex->out.size() > kMaxOutputBytes) break;
      ex->out.append(buf, static_cast<size_t>(n));
    }
  }
  if (in_fd >= 0) ::close(in_fd);
}

// Reaps the child by the deadline, killing it then: a child may close its stdout and go on
// running, and timeout_ms bounds the whole exchange, not only the output. The wait polls (from
// 1 ms, doubling to 20) because a child is waited for on a runner thread, with no loop to wake.
int reap(pid_t pid, std::chrono::steady_clock::time_point deadline, Exchange* ex) {
  using std::chrono::milliseconds;
  milliseconds pause(1);
  for (int status = 0;;) {
    pid_t done = ::waitpid(pid, &status, ex->timed_out ? 0 : WNOHANG);
    if (done == pid) return status;
    if (done < 0 && errno != EINTR) return -1;
    if (done < 0) continue;
    auto left = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ex->timed_out = true;
      ::kill(pid, SIGKILL);
      continue;
    }
    std::this_thread::sleep_for(std::min(pause, left));
    pause = std::min(pause * 2, milliseconds(20));
  }
}

Exchange run(const std::vector<std::string>& argv, const std::string& dir, const std::string& input, uint32_t timeout_ms) {
  Exchange ex;
  int to_child[2], from_child[2];
  if (::pipe2(to_child, O_CLOEXEC) != 0) return ex;
  if (::pipe2(from_child, O_CLOEXEC) != 0) {
    ::close(to_child[0]), ::close(to_child[1]);
    return ex;
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(to_child[0], 0);
    ::dup2(from_child[1], 1);
    if (!dir.empty() && ::chdir(dir.c_str()) != 0) ::_exit(127);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  ::fcntl(to_child[1], F_SETFL, O_NONBLOCK);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  if (pid > 0) pump(to_child[1], from_child[0], input, deadline, &ex);
  else ::close(to_child[1]);
  ::close(from_child[0]);
  if (pid > 0) {
    if (ex.timed_out) ::kill(pid, SIGKILL);
    int status = reap(pid, deadline, &ex);
    ex.exit_status = status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  return ex;
}

class CommandScorer : public Scorer {
 public:
  using Scorer::Scorer;
  Score score(const EvalCase& c, const CaseOutput& out) const override {
    Exchange ex = run(config_.command, config_.working_dir, inputJson(c, out), config_.timeout_ms);
    std::string name = config_.command[0];
    if (ex.timed_out) return failedToRun(name + " did not answer within " + std::to_string(config_.timeout_ms) + " ms");
    if (ex.exit_status != 0) return failedToRun(name + " exited with status " + std::to_string(ex.exit_status));
    rapidjson::Document doc;
    if (!json::parse(ex.out, &doc) || !doc.IsObject() || !doc.HasMember("pass") || !doc["pass"].IsBool()) {
      return failedToRun(name + " did not print {\"pass\": bool, ...}: " + utf8Replaced(utf8Prefix(ex.out, 200)));
    }
    bool pass = doc["pass"].GetBool();
    double score = doc.HasMember("score") && doc["score"].IsNumber() ? doc["score"].GetDouble() : (pass ? 1 : 0);
    return verdict(pass, score, stringMember(doc, "reason"));
  }
};

}  // namespace

std::unique_ptr<Scorer> makeCommandScorer(const ScorerConfig& cfg, std::string* error) {
  if (cfg.type != "command") return nullptr;
  if (cfg.command.empty() || cfg.command[0].empty()) {
    *error = "scorer " + cfg.name + ": command must be a non-empty array (argv)";
    return nullptr;
  }
  // A command that exits without reading its stdin must cost a failed write, not this process.
  ::signal(SIGPIPE, SIG_IGN);
  return std::make_unique<CommandScorer>(cfg);
}

}  // namespace outrigger::eval
