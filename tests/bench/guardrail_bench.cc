// What each guardrail adds to a request: the daemon on its default chain (rules guardrail, echo
// mock; without the trace store, whose exporter thread's batching would blur a comparison of
// microseconds), then the same chain with one more guardrail at its default settings
// (guardrail.pii, .tokens, .json, .content), in alternating rounds of the same closed-loop load
// from one connection. Prints p50/p99 latency, the server's CPU per request and what each adds
// over the default chain measured in the same rounds.
//   guardrail_bench [--seconds N] [--rounds N] [--connections N]
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "load_driver.h"
#include "support/daemon_process.h"

using namespace outrigger::bench;

namespace {

struct Variant {
  std::string name;
  std::string instance;  // the extra guardrail's instance section; empty for the default chain
  std::string socket;
  pid_t pid = -1;
  std::vector<Result> results;
};

// The default chain of config/default.toml, with the route on a model guardrail.tokens knows,
// and `extra` appended to its guardrails.
std::string configFor(const Variant& v, const std::string& plugin_dir) {
  std::string guardrails = "\"input_rules\"" + std::string(v.instance.empty() ? "" : ", \"extra\"");
  return "[plugins]\ndirs = [\"" + plugin_dir + "\"]\n"
         "[instances.mock]\ntype = \"provider.mock\"\n[instances.mock.config]\nmode = \"echo\"\n"
         "[instances.input_rules]\ntype = \"guardrail.rules\"\n[instances.input_rules.config]\n"
         "max_input_bytes = 1048576\nmax_messages = 512\n" + v.instance +
         "[routes.default]\nguardrails = [" + guardrails + "]\nprovider = \"mock\"\nmodel = \"gpt-4o-mini\"\n";
}

}  // namespace

int main(int argc, char** argv) {
  LoadOptions opt;
  int rounds = 5, connections = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--seconds") opt.seconds = std::atof(argv[i + 1]);
    else if (a == "--rounds") rounds = std::max(1, std::atoi(argv[i + 1]));
    else if (a == "--connections") connections = std::max(1, std::atoi(argv[i + 1]));
  }
  const std::string dir = outrigger::testing::makeTempDir();
  std::vector<Variant> variants = {
      {"default", ""},
      {"+pii", "[instances.extra]\ntype = \"guardrail.pii\"\n"},
      {"+tokens", "[instances.extra]\ntype = \"guardrail.tokens\"\n"},
      {"+json", "[instances.extra]\ntype = \"guardrail.json\"\n"},
      {"+content", "[instances.extra]\ntype = \"guardrail.content\"\n"},
  };
  for (size_t i = 0; i < variants.size(); ++i) {
    Variant& v = variants[i];
    const std::string config = dir + "/config" + std::to_string(i) + ".toml";
    std::ofstream(config) << configFor(v, OUTRIGGER_PLUGIN_DIR);
    v.socket = dir + "/daemon" + std::to_string(i) + ".sock";
    v.pid = spawn({OUTRIGGER_BIN, "serve", "--config", config, "--socket", v.socket, "--workers", "1"});
    if (waitAccepting(v.socket) < 0) {
      std::fprintf(stderr, "guardrail_bench: the %s daemon did not start (OUTRIGGER_BENCH_VERBOSE=1 shows its log)\n",
                   v.name.c_str());
      return 1;
    }
  }
  std::printf("Guardrail benchmark: 1 worker, %d connection(s), 1 request in flight each, median of %d alternating "
              "rounds of %.1f s\n", connections, rounds, opt.seconds);
  for (int r = 0; r < rounds; ++r) {
    for (Variant& v : variants) v.results.push_back(drive(v.socket, v.pid, connections, opt));
  }
  std::printf("%-10s %10s %10s %12s %8s %10s %12s %12s\n", "chain", "p50_us", "p99_us", "req_per_s", "errors",
              "cpu_us/req", "added_p50", "added_cpu");
  const Result base = median(variants[0].results);
  bool ok = true;
  for (Variant& v : variants) {
    const Result m = median(v.results);
    std::printf("%-10s %10.1f %10.1f %12.0f %8llu %10.2f %+11.1f %+11.2f\n", v.name.c_str(), m.p50_us, m.p99_us, m.rps,
                static_cast<unsigned long long>(m.errors), m.cpu_us, m.p50_us - base.p50_us, m.cpu_us - base.cpu_us);
    ok = ok && m.errors == 0;
    stop(v.pid);
  }
  std::system(("rm -rf " + dir).c_str());
  return ok ? 0 : 1;
}
