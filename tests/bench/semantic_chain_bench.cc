// What cache.semantic adds to a request on the default chain (rules guardrail, echo mock):
// the daemon without a cache, then with cache.semantic embedding through provider.wordllama on
// an embed route, (a) where every lookup misses (max_entry_bytes = 1 stores nothing, so each
// request pays the embed call, the lookup and the store attempt before the provider), and (b)
// where every lookup after the first hits, and (c) whose embed route is not in the route's
// `calls`, so the host refuses the embed call: what the cache stage costs without the child
// request. Alternating rounds of the same closed-loop load from
// one connection; prints p50/p99, the server's CPU per request and what each adds over the
// default chain in the same rounds. The index search at 100k entries is semantic_index_bench's.
// With provider.onnx built, "+miss, MiniLM" is the miss variant embedding with all-MiniLM-L6-v2
// on ONNX Runtime instead of WordLlama (plugins/provider_onnx).
// --previous-bin OLD_OUTRIGGER adds the miss variant on an older build of the daemon (this build's
// plugins), to compare a change to the embed path in the same rounds.
//   semantic_chain_bench [--seconds N] [--rounds N] [--previous-bin PATH]
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "chain_variants.h"
#include "support/daemon_process.h"

using namespace outrigger::bench;

namespace {

// `minilm`: the embed route runs provider.onnx's all-MiniLM-L6-v2 instead of WordLlama.
std::string configFor(const std::string& cache_config, const std::string& plugin_dir, bool minilm = false) {
  const std::string model = OUTRIGGER_WORDLLAMA_MODEL;
  std::string text = "[plugins]\ndirs = [\"" + plugin_dir + "\"]\n"
                     "[instances.mock]\ntype = \"provider.mock\"\n[instances.mock.config]\nmode = \"echo\"\n"
                     "[instances.input_rules]\ntype = \"guardrail.rules\"\n[instances.input_rules.config]\n"
                     "max_input_bytes = 1048576\nmax_messages = 512\n";
  std::string route = "[routes.default]\nguardrails = [\"input_rules\"]\nprovider = \"mock\"\nmodel = \"gpt-4o-mini\"\n";
  if (cache_config.empty()) return text + route;
  if (minilm) {
#ifdef OUTRIGGER_MINILM_MODEL
    const std::string dir = OUTRIGGER_MINILM_MODEL;
#else
    const std::string dir;  // provider.onnx not built: main offers no MiniLM variant
#endif
    text += "[instances.local_embed]\ntype = \"provider.onnx\"\n[instances.local_embed.config]\n"
            "runtime = \"" + dir + "/libonnxruntime.so.1.20.1\"\nmodel = \"" + dir + "/all-minilm-l6-v2-q.onnx\"\n"
            "tokenizer = \"" + dir + "/all-minilm-l6-v2-q-tokenizer.json\"\n";
  } else {
    text += "[instances.local_embed]\ntype = \"provider.wordllama\"\n[instances.local_embed.config]\n"
            "tokenizer = \"" + model + "/l2_supercat_tokenizer_config.json\"\n"
            "weights = \"" + model + "/l2_supercat_256.safetensors\"\n";
  }
  text += "[instances.semantic]\ntype = \"cache.semantic\"\n[instances.semantic.config]\n" +
          std::string(minilm ? "dimensions = 384\n" : "") +
          (cache_config.find("embed_route") == std::string::npos ? "embed_route = \"embed\"\n" : "") + cache_config;
  route += "cache = [\"semantic\"]\ncalls = [\"embed\"]\n[routes.embed]\nprovider = \"local_embed\"\n";
  return text + route;
}

}  // namespace

int main(int argc, char** argv) {
  LoadOptions opt;
  int rounds = 5;
  std::string previous_bin;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--seconds") opt.seconds = std::atof(argv[i + 1]);
    else if (a == "--rounds") rounds = std::max(1, std::atoi(argv[i + 1]));
    else if (a == "--previous-bin") previous_bin = argv[i + 1];
  }
  const std::string dir = outrigger::testing::makeTempDir();
  std::vector<ChainVariant> variants = {
      {"default", configFor("", OUTRIGGER_PLUGIN_DIR)},
      {"+semantic miss", configFor("max_entry_bytes = 1\n", OUTRIGGER_PLUGIN_DIR)},
      {"+semantic hit", configFor("ttl_ms = 3600000\n", OUTRIGGER_PLUGIN_DIR)},
      {"+refused embed", configFor("embed_route = \"nowhere\"\n", OUTRIGGER_PLUGIN_DIR)},
  };
#ifdef OUTRIGGER_MINILM_MODEL
  variants.emplace_back("+miss, MiniLM", configFor("max_entry_bytes = 1\n", OUTRIGGER_PLUGIN_DIR, true));
#endif
  if (!previous_bin.empty()) {
    variants.emplace_back("+miss, previous", configFor("max_entry_bytes = 1\n", OUTRIGGER_PLUGIN_DIR), previous_bin);
  }
  if (!startVariants(variants, dir, "semantic_chain_bench")) return 1;
  std::printf("Semantic cache on the default chain: 1 worker, 1 connection, 1 request in flight, median of %d "
              "alternating rounds of %.1f s\n", rounds, opt.seconds);
  runRounds(variants, rounds, 1, opt);
  bool ok = reportVariants(variants, 15, AddedColumn::kP99);
  outrigger::testing::removeTempDir(dir);
  return ok ? 0 : 1;
}
