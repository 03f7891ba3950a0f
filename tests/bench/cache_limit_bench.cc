// The cache-hit and limiter path against an earlier build: a route with cache.memory and a
// tenant limit (limiter.memory), asked the same question again and again, so every request is a
// limiter admission, a cache hit and a settlement. The earlier build's daemon (--previous-bin,
// with its own plugins beside it) and this build's run in alternating rounds of the same load.
//   cache_limit_bench --previous-bin PATH [--seconds N] [--rounds N]
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "chain_variants.h"
#include "support/daemon_process.h"

using namespace outrigger::bench;

namespace {

std::string config(const std::string& plugin_dir) {
  return "[plugins]\ndirs = [\"" + plugin_dir + "\"]\n"
         "[instances.mock]\ntype = \"provider.mock\"\n[instances.mock.config]\nmode = \"echo\"\n"
         "[instances.memo]\ntype = \"cache.memory\"\n"
         "[routes.default]\nprovider = \"mock\"\ncache = \"memo\"\ntenant_rpm = 100000000\ntenant_tpm = 2000000000\n";
}

}  // namespace

int main(int argc, char** argv) {
  LoadOptions opt;
  int rounds = 5;
  std::string previous;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--seconds") opt.seconds = std::atof(argv[i + 1]);
    else if (a == "--rounds") rounds = std::max(1, std::atoi(argv[i + 1]));
    else if (a == "--previous-bin") previous = argv[i + 1];
  }
  if (previous.empty()) {
    std::fprintf(stderr, "cache_limit_bench: --previous-bin PATH (an earlier build's bin/outrigger) is required\n");
    return 2;
  }
  // Each daemon loads the plugins built with it: bin/../lib/outrigger/plugins.
  std::string previous_plugins = previous.substr(0, previous.rfind("/bin/")) + "/lib/outrigger/plugins";
  const std::string dir = outrigger::testing::makeTempDir();
  std::vector<ChainVariant> variants = {
      {"previous", config(previous_plugins), previous},
      {"this", config(OUTRIGGER_PLUGIN_DIR)},
  };
  if (!startVariants(variants, dir, "cache_limit_bench")) return 1;
  std::printf("Cache hit + tenant limit, this build vs --previous-bin: 1 worker, 1 connection, median of %d alternating "
              "rounds of %.1f s\n", rounds, opt.seconds);
  runRounds(variants, rounds, 1, opt);
  bool ok = reportVariants(variants, 10, AddedColumn::kCpu);
  outrigger::testing::removeTempDir(dir);
  return ok ? 0 : 1;
}
