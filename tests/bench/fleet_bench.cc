// Fleet benchmark: N sidecar processes (default 20) sharing one real redis-server, C clients
// (default 200) spread over them, each sending requests one after another for S seconds. Four
// phases, each printed with the per-process breakdown:
//   tpm    limiter.redis, one global tokens-per-minute limit for the fleet
//   tpm    limiter.memory with the same limit (each process keeps its own: the xN overshoot)
//   budget limiter.redis, a tenant's USD budget for the fleet
//   budget limiter.budget with the same budget (each process keeps its own ledger)
// "over" is what was admitted beyond what the limit allows in the run: for tokens, a full bucket
// plus the minute's refill for S seconds; for the budget, the budget. Goal: <= 5% (1%) for the
// Redis phases. Exit code 1 when a Redis phase is over 5%.
//   fleet_bench [--sidecars N] [--clients C] [--seconds S] [--tpm T] [--budget USD]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <outrigger/client.h>

#include "redis/redis_server.h"
#include "support/daemon_process.h"

using namespace std::chrono;
using outrigger::testing::basicConfig;
using outrigger::testing::DaemonProcess;
using outrigger::testing::RedisServer;
namespace client = outrigger::client;

namespace {

struct Options {
  int sidecars = 20, clients = 200;
  double seconds = 20;
  uint32_t tpm = 60000;
  double budget = 2.0;
};

struct PerSidecar {
  std::atomic<uint64_t> ok{0}, refused{0}, failed{0}, tokens{0};
  std::atomic<uint64_t> micro_usd{0};
};

// Every request: 90 words of prompt (the mock counts words as tokens), a 100-token estimate by the
// host's bytes/4, and max_tokens 50; every answer is 40 words, within it, as a provider's would be.
const std::string kPrompt = [] {
  std::string s;
  while (s.size() < 400) s += "the quick brown fox jumps over a lazy dog ";
  return s;
}();

std::string config(const std::string& route_lines, const std::string& instances) {
  std::string answer;
  for (int i = 0; i < 10; ++i) answer += "all good here friend ";
  std::string c = basicConfig("mode = \"fixed\"\ntext = \"" + answer + "\"\nlatency_ms = 5", "model = \"mock-1\"\n" + route_lines + instances +
                                                                      "[prices.\"mock/mock-1\"]\ninput = 0.0001\noutput = 0.0002\n");
  size_t at = c.find("workers = 2");
  if (at != std::string::npos) c.replace(at, 11, "workers = 1");
  return c;
}

std::string redisInstance(const RedisServer& redis, const std::string& limits) {
  return "[instances.fleet]\ntype = \"limiter.redis\"\n[instances.fleet.config]\n" + limits +
         "[instances.fleet.config.redis]\nport = " + std::to_string(redis.port()) + "\nkey_prefix = \"bench:\"\n";
}

struct PhaseResult {
  std::vector<std::unique_ptr<PerSidecar>> per;
  double seconds = 0;
};

PhaseResult run(const Options& o, const std::string& cfg_text) {
  std::vector<std::unique_ptr<DaemonProcess>> fleet;
  for (int i = 0; i < o.sidecars; ++i) fleet.push_back(std::make_unique<DaemonProcess>(cfg_text));
  for (auto& d : fleet) {
    if (!d->waitReady()) {
      std::fprintf(stderr, "a sidecar did not start:\n%s\n", d->log().c_str());
      std::exit(2);
    }
  }
  std::this_thread::sleep_for(milliseconds(300));  // Redis pools connect
  PhaseResult res;
  for (int i = 0; i < o.sidecars; ++i) res.per.push_back(std::make_unique<PerSidecar>());
  auto start = steady_clock::now();
  auto deadline = start + duration<double>(o.seconds);
  std::vector<std::thread> threads;
  for (int c = 0; c < o.clients; ++c) {
    threads.emplace_back([&, c] {
      int s = c % o.sidecars;
      client::Client::Options opts;
      opts.socket_path = fleet[s]->socket();
      client::Client cl(opts);
      if (cl.connect()) return;
      client::ChatRequest r;
      r.model = "default";
      r.messages.push_back({"user", kPrompt, "", "", {}});
      r.max_tokens = 50;
      client::Metadata m;
      m.tenant = "acme";
      r.metadata = m;
      PerSidecar& p = *res.per[s];
      while (steady_clock::now() < deadline) {
        auto a = cl.chat(r);
        if (a.ok()) {
          p.ok++;
          p.tokens += a.value().usage.prompt_tokens + a.value().usage.completion_tokens;
          p.micro_usd += uint64_t(a.value().cost_usd * 1e6 + 0.5);
        } else if (a.error().code == client::StatusCode::kResourceExhausted) {
          p.refused++;
          // A refused client backs off a little, as a real one would.
          std::this_thread::sleep_for(milliseconds(std::min<uint32_t>(a.error().retry_after_ms, 50)));
        } else {
          p.failed++;
          std::this_thread::sleep_for(milliseconds(10));
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  res.seconds = duration<double>(steady_clock::now() - start).count();
  return res;
}

// Prints the phase; returns how far over the allowance it went (a fraction).
double report(const char* title, const PhaseResult& r, double allowed, bool usd) {
  uint64_t ok = 0, refused = 0, failed = 0, tokens = 0, micro = 0;
  for (const auto& p : r.per) {
    ok += p->ok;
    refused += p->refused;
    failed += p->failed;
    tokens += p->tokens;
    micro += p->micro_usd;
  }
  double admitted = usd ? double(micro) / 1e6 : double(tokens);
  double over = std::max(0.0, admitted - allowed) / allowed;
  std::printf("\n%s (%.1f s)\n", title, r.seconds);
  std::printf("  admitted %s %.4g, allowed %.4g: %.1f%% over (x%.2f)  requests ok %llu, refused %llu, failed %llu\n",
              usd ? "USD" : "tokens", admitted, allowed, over * 100, admitted / allowed, (unsigned long long)ok,
              (unsigned long long)refused, (unsigned long long)failed);
  std::printf("  per sidecar (%s admitted):", usd ? "USD" : "tokens");
  for (size_t i = 0; i < r.per.size(); ++i) {
    if (i % 10 == 0) std::printf("\n   ");
    if (usd) std::printf(" %8.4f", double(r.per[i]->micro_usd) / 1e6);
    else std::printf(" %8llu", (unsigned long long)r.per[i]->tokens.load());
  }
  std::printf("\n");
  return over;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--sidecars") o.sidecars = std::atoi(argv[i + 1]);
    else if (k == "--clients") o.clients = std::atoi(argv[i + 1]);
    else if (k == "--seconds") o.seconds = std::atof(argv[i + 1]);
    else if (k == "--tpm") o.tpm = uint32_t(std::atol(argv[i + 1]));
    else if (k == "--budget") o.budget = std::atof(argv[i + 1]);
  }
  std::printf("fleet_bench: %d sidecars, %d clients, %.0f s per phase, tpm %u, budget $%.2f\n", o.sidecars, o.clients,
              o.seconds, o.tpm, o.budget);
  double tpm_allowed = double(o.tpm) * (1 + o.seconds / 60);
  std::string tpm = "tpm = " + std::to_string(o.tpm) + "\n";
  double worst = 0;
  {
    RedisServer redis;
    PhaseResult r = run(o, config("limiters = [\"fleet\"]\n", redisInstance(redis, "key = \"global\"\n" + tpm)));
    worst = std::max(worst, report("tpm, limiter.redis (one limit for the fleet)", r, tpm_allowed, false));
  }
  {
    PhaseResult r = run(o, config("limiters = [\"local\"]\n", "[instances.local]\ntype = \"limiter.memory\"\n[instances.local.config]\nkey = \"global\"\n" + tpm));
    report("tpm, limiter.memory (the same limit in each process)", r, tpm_allowed, false);
  }
  std::string budget = "budget_usd = " + std::to_string(o.budget) + "\n";
  {
    RedisServer redis;
    PhaseResult r = run(o, config("limiters = [\"fleet\"]\n", redisInstance(redis, budget)));
    worst = std::max(worst, report("budget, limiter.redis (a tenant's USD for the fleet)", r, o.budget, true));
  }
  {
    PhaseResult r = run(o, config("limiters = [\"spend\"]\n", "[instances.spend]\ntype = \"limiter.budget\"\n[instances.spend.config]\nwindow = \"daily\"\nlimit_usd = " +
                                                                  std::to_string(o.budget) + "\n"));
    report("budget, limiter.budget (the same budget in each process)", r, o.budget, true);
  }
  std::printf("\nworst Redis phase: %.2f%% over (goal <= 5%%, aim <= 1%%)\n", worst * 100);
  return worst <= 0.05 ? 0 : 1;
}
