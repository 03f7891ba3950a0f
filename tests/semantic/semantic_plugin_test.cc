// cache.semantic and provider.wordllama through the real loader and chain builder: the example
// config builds, configs the schema or the plugins refuse fail the build naming the key, and
// every key of the schema is in the README's table.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "chain/chain.h"
#include "config/config.h"
#include "semantic_settings.h"
#include "support/chain_build.h"

using namespace outrigger;

namespace {

std::string embedInstance(const std::string& weights = OUTRIGGER_WORDLLAMA_MODEL "/l2_supercat_256.safetensors") {
  return "[instances.local_embed]\ntype = \"provider.wordllama\"\n[instances.local_embed.config]\n"
         "tokenizer = \"" OUTRIGGER_WORDLLAMA_MODEL "/l2_supercat_tokenizer_config.json\"\nweights = \"" + weights + "\"\n";
}

std::string withCache(const std::string& cache_config) {
  return "[instances.mock]\ntype = \"provider.mock\"\n" + embedInstance() +
         "[instances.semantic]\ntype = \"cache.semantic\"\n[instances.semantic.config]\n" + cache_config +
         "\n[routes.default]\ncache = [\"semantic\"]\ncalls = [\"embed\"]\nprovider = \"mock\"\n"
         "[routes.embed]\nprovider = \"local_embed\"\n";
}

}  // namespace

TEST_CASE("the example config/semantic_cache.toml builds a chain with both caches and the embed route") {
  // The example names the model files relative to where the daemon starts: the source tree.
  REQUIRE(::chdir(OUTRIGGER_SOURCE_DIR) == 0);
  auto settings = config::loadConfigFile(std::string(OUTRIGGER_SOURCE_DIR) + "/config/semantic_cache.toml");
  REQUIRE(settings.ok());
  settings->plugin_dirs = {OUTRIGGER_PLUGIN_DIR};
  auto chain = chain::buildChain(settings.value(), 2, 1);
  INFO((chain.ok() ? "" : chain.status().message()));
  REQUIRE(chain.ok());
}

TEST_CASE("a semantic cache config the schema or the plugins refuse fails the chain build, naming the key") {
  CHECK(testing::chainBuildError(withCache("embed_route = \"embed\"")).empty());
  CHECK(testing::chainBuildError(withCache("threshold = 0.9")).find("embed_route") != std::string::npos);
  CHECK(testing::chainBuildError(withCache("embed_route = \"embed\"\nthreshold = 1.5")).find("threshold") != std::string::npos);
  CHECK(testing::chainBuildError(withCache("embed_route = \"embed\"\nkey = \"everything\"")).find("key") != std::string::npos);
  CHECK(testing::chainBuildError(withCache("embed_route = \"embed\"\nthreshhold = 0.9")).find("threshhold") != std::string::npos);
  std::string bad_model = testing::chainBuildError("[instances.mock]\ntype = \"provider.mock\"\n" +
                                                   embedInstance("/nonexistent/weights.safetensors") +
                                                   "[routes.default]\nprovider = \"mock\"\n[routes.embed]\nprovider = \"local_embed\"\n");
  CHECK(bad_model.find("/nonexistent/weights.safetensors") != std::string::npos);
}

TEST_CASE("every config key of cache.semantic's schema is in the README's table") {
  rapidjson::Document d;
  d.Parse(semantic::kSemanticSchema);
  REQUIRE(d.IsObject());
  std::ifstream in(std::string(OUTRIGGER_SOURCE_DIR) + "/plugins/cache_semantic/README.md");
  std::stringstream readme;
  readme << in.rdbuf();
  size_t keys = 0;
  for (const auto& key : d["properties"].GetObject()) {
    ++keys;
    INFO(key.name.GetString());
    CHECK(readme.str().find("| `" + std::string(key.name.GetString()) + "`") != std::string::npos);
  }
  CHECK(keys == 16);
}
