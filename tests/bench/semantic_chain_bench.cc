// What cache.semantic adds to a request on the default chain (rules guardrail, echo mock):
// the daemon without a cache, then with cache.semantic embedding through provider.wordllama on
// an embed route, (a) where every lookup misses (max_entry_bytes = 1 stores nothing, so each
// request pays the embed call, the lookup and the store attempt before the provider), and (b)
// where every lookup after the first hits, and (c) whose embed route is not in the route's
// `calls`, so the host refuses the embed call: what the cache stage costs without the child
// request. Alternating rounds of the same closed-loop load from
// one connection; prints p50/p99, the server's CPU per request and what each adds over the
// default chain in the same rounds. The index search at 100k entries is semantic_index_bench's.
//   semantic_chain_bench [--seconds N] [--rounds N]
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
  std::string cache_config;  // cache.semantic's config lines; empty: no cache
  std::string socket;
  pid_t pid = -1;
  std::vector<Result> results;
};

std::string configFor(const Variant& v, const std::string& plugin_dir) {
  const std::string model = OUTRIGGER_WORDLLAMA_MODEL;
  std::string text = "[plugins]\ndirs = [\"" + plugin_dir + "\"]\n"
                     "[instances.mock]\ntype = \"provider.mock\"\n[instances.mock.config]\nmode = \"echo\"\n"
                     "[instances.input_rules]\ntype = \"guardrail.rules\"\n[instances.input_rules.config]\n"
                     "max_input_bytes = 1048576\nmax_messages = 512\n";
  std::string route = "[routes.default]\nguardrails = [\"input_rules\"]\nprovider = \"mock\"\nmodel = \"gpt-4o-mini\"\n";
  if (!v.cache_config.empty()) {
    text += "[instances.local_embed]\ntype = \"provider.wordllama\"\n[instances.local_embed.config]\n"
            "tokenizer = \"" + model + "/l2_supercat_tokenizer_config.json\"\n"
            "weights = \"" + model + "/l2_supercat_256.safetensors\"\n"
            "[instances.semantic]\ntype = \"cache.semantic\"\n[instances.semantic.config]\n" +
            (v.cache_config.find("embed_route") == std::string::npos ? "embed_route = \"embed\"\n" : "") + v.cache_config;
    route += "cache = [\"semantic\"]\ncalls = [\"embed\"]\n[routes.embed]\nprovider = \"local_embed\"\n";
  }
  return text + route;
}

}  // namespace

int main(int argc, char** argv) {
  LoadOptions opt;
  int rounds = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--seconds") opt.seconds = std::atof(argv[i + 1]);
    else if (a == "--rounds") rounds = std::max(1, std::atoi(argv[i + 1]));
  }
  const std::string dir = outrigger::testing::makeTempDir();
  std::vector<Variant> variants = {
      {"default", ""},
      {"+semantic miss", "max_entry_bytes = 1\n"},
      {"+semantic hit", "ttl_ms = 3600000\n"},
      {"+refused embed", "embed_route = \"nowhere\"\n"},
  };
  for (size_t i = 0; i < variants.size(); ++i) {
    Variant& v = variants[i];
    const std::string config = dir + "/config" + std::to_string(i) + ".toml";
    std::ofstream(config) << configFor(v, OUTRIGGER_PLUGIN_DIR);
    v.socket = dir + "/daemon" + std::to_string(i) + ".sock";
    v.pid = spawn({OUTRIGGER_BIN, "serve", "--config", config, "--socket", v.socket, "--workers", "1"});
    if (waitAccepting(v.socket) < 0) {
      std::fprintf(stderr, "semantic_chain_bench: the %s daemon did not start (OUTRIGGER_BENCH_VERBOSE=1 shows its log)\n",
                   v.name.c_str());
      return 1;
    }
  }
  std::printf("Semantic cache on the default chain: 1 worker, 1 connection, 1 request in flight, median of %d "
              "alternating rounds of %.1f s\n", rounds, opt.seconds);
  for (int r = 0; r < rounds; ++r) {
    for (Variant& v : variants) v.results.push_back(drive(v.socket, v.pid, 1, opt));
  }
  std::printf("%-15s %10s %10s %12s %8s %10s %12s %12s\n", "chain", "p50_us", "p99_us", "req_per_s", "errors",
              "cpu_us/req", "added_p50", "added_p99");
  const Result base = median(variants[0].results);
  bool ok = true;
  for (Variant& v : variants) {
    const Result m = median(v.results);
    std::printf("%-15s %10.1f %10.1f %12.0f %8llu %10.2f %+11.1f %+11.1f\n", v.name.c_str(), m.p50_us, m.p99_us, m.rps,
                static_cast<unsigned long long>(m.errors), m.cpu_us, m.p50_us - base.p50_us, m.p99_us - base.p99_us);
    ok = ok && m.errors == 0;
    stop(v.pid);
  }
  std::system(("rm -rf " + dir).c_str());
  return ok ? 0 : 1;
}
