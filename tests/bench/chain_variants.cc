#include "chain_variants.h"

#include <cstdio>
#include <fstream>

namespace outrigger::bench {

bool startVariants(std::vector<ChainVariant>& variants, const std::string& dir, const char* bench) {
  for (size_t i = 0; i < variants.size(); ++i) {
    ChainVariant& v = variants[i];
    const std::string config = dir + "/config" + std::to_string(i) + ".toml";
    std::ofstream(config) << v.config;
    v.socket = dir + "/daemon" + std::to_string(i) + ".sock";
    v.pid = spawn({v.bin, "serve", "--config", config, "--socket", v.socket, "--workers", "1"});
    if (waitAccepting(v.socket) < 0) {
      std::fprintf(stderr, "%s: the %s daemon did not start (OUTRIGGER_BENCH_VERBOSE=1 shows its log)\n", bench,
                   v.name.c_str());
      return false;
    }
  }
  return true;
}

void runRounds(std::vector<ChainVariant>& variants, int rounds, int connections, const LoadOptions& opt) {
  for (int r = 0; r < rounds; ++r) {
    for (ChainVariant& v : variants) v.results.push_back(drive(v.socket, v.pid, connections, opt));
  }
}

bool reportVariants(std::vector<ChainVariant>& variants, int w, AddedColumn last) {
  std::printf("%-*s %10s %10s %12s %8s %10s %12s %12s\n", w, "chain", "p50_us", "p99_us", "req_per_s", "errors",
              "cpu_us/req", "added_p50", last == AddedColumn::kP99 ? "added_p99" : "added_cpu");
  const Result base = median(variants[0].results);
  bool ok = true;
  for (ChainVariant& v : variants) {
    const Result m = median(v.results);
    double added = last == AddedColumn::kP99 ? m.p99_us - base.p99_us : m.cpu_us - base.cpu_us;
    std::printf("%-*s %10.1f %10.1f %12.0f %8llu %10.2f %+11.1f %+11.*f\n", w, v.name.c_str(), m.p50_us, m.p99_us, m.rps,
                static_cast<unsigned long long>(m.errors), m.cpu_us, m.p50_us - base.p50_us,
                last == AddedColumn::kP99 ? 1 : 2, added);
    ok = ok && m.errors == 0;
    stop(v.pid);
  }
  return ok;
}

}  // namespace outrigger::bench
