// What each guardrail adds to a request: the daemon on its default chain (rules guardrail, echo
// mock; without the trace store, whose exporter thread's batching would blur a comparison of
// microseconds), then the same chain with one more guardrail at its default settings
// (guardrail.pii, .tokens, .json, .content), in alternating rounds of the same closed-loop load
// from one connection. Prints p50/p99 latency, the server's CPU per request and what each adds
// over the default chain measured in the same rounds.
//   guardrail_bench [--seconds N] [--rounds N] [--connections N]
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "chain_variants.h"
#include "support/daemon_process.h"

using namespace outrigger::bench;

namespace {

// The default chain of config/default.toml, with the route on a model guardrail.tokens knows,
// and `extra` appended to its guardrails.
std::string configFor(const std::string& instance, const std::string& plugin_dir) {
  std::string guardrails = "\"input_rules\"" + std::string(instance.empty() ? "" : ", \"extra\"");
  return "[plugins]\ndirs = [\"" + plugin_dir + "\"]\n"
         "[instances.mock]\ntype = \"provider.mock\"\n[instances.mock.config]\nmode = \"echo\"\n"
         "[instances.input_rules]\ntype = \"guardrail.rules\"\n[instances.input_rules.config]\n"
         "max_input_bytes = 1048576\nmax_messages = 512\n" + instance +
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
  std::vector<ChainVariant> variants = {
      {"default", configFor("", OUTRIGGER_PLUGIN_DIR)},
      {"+pii", configFor("[instances.extra]\ntype = \"guardrail.pii\"\n", OUTRIGGER_PLUGIN_DIR)},
      {"+tokens", configFor("[instances.extra]\ntype = \"guardrail.tokens\"\n", OUTRIGGER_PLUGIN_DIR)},
      {"+json", configFor("[instances.extra]\ntype = \"guardrail.json\"\n", OUTRIGGER_PLUGIN_DIR)},
      {"+content", configFor("[instances.extra]\ntype = \"guardrail.content\"\n", OUTRIGGER_PLUGIN_DIR)},
  };
  if (!startVariants(variants, dir, "guardrail_bench")) return 1;
  std::printf("Guardrail benchmark: 1 worker, %d connection(s), 1 request in flight each, median of %d alternating "
              "rounds of %.1f s\n", connections, rounds, opt.seconds);
  runRounds(variants, rounds, connections, opt);
  bool ok = reportVariants(variants, 10, AddedColumn::kCpu);
  outrigger::testing::removeTempDir(dir);
  return ok ? 0 : 1;
}
