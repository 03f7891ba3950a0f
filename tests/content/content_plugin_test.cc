// guardrail.content through the real loader and chain builder: the example config builds, a
// config the schema or the plugin refuses fails the build naming the key, and every key of the
// schema is documented in the plugin's README.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <fstream>
#include <sstream>
#include <string>

#include "chain/chain.h"
#include "support/chain_build.h"
#include "config/config.h"
#include "content_settings.h"

using namespace outrigger;

TEST_CASE("the example config/content_policy.toml builds a chain with the content guardrail and its judge route") {
  auto settings = config::loadConfigFile(std::string(OUTRIGGER_SOURCE_DIR) + "/config/content_policy.toml");
  REQUIRE(settings.ok());
  settings->plugin_dirs = {OUTRIGGER_PLUGIN_DIR};
  auto chain = chain::buildChain(settings.value(), 2, 1);
  INFO((chain.ok() ? "" : chain.status().message()));
  REQUIRE(chain.ok());
}

TEST_CASE("a content config the schema or the plugin refuses fails the chain build, naming the key") {
  auto build = [](const std::string& config) {
    return testing::chainBuildError("[instances.mock]\ntype = \"provider.mock\"\n"
                                    "[instances.content]\ntype = \"guardrail.content\"\n[instances.content.config]\n" + config +
                                    "\n[routes.default]\nguardrails = [\"content\"]\nprovider = \"mock\"\n");
  };
  CHECK(build("empty_answer = \"deny\"").empty());
  CHECK(build("empty_answer = \"sometimes\"").find("empty_answer") != std::string::npos);
  CHECK(build("injection = { deny_score = 1.5 }").find("deny_score") != std::string::npos);
  CHECK(build("injection = { extra_rules = [{ name = \"x\", pattern = \"(unclosed\", score = 0.5 }] }").find("rule x") !=
        std::string::npos);
  CHECK(build("judge = { mode = \"always\" }").find("route") != std::string::npos);
  CHECK(build("banned_topics = [{ name = \"t\", keywords = [] }]").find("keywords") != std::string::npos);
  CHECK(build("max_answer_char = 5").find("max_answer_char") != std::string::npos);
}

TEST_CASE("every config key of the schema is in the README's table") {
  rapidjson::Document d;
  d.Parse(outrigger::content::kConfigSchema);
  REQUIRE(d.IsObject());
  std::ifstream in(std::string(OUTRIGGER_SOURCE_DIR) + "/plugins/guardrail_content/README.md");
  std::stringstream readme;
  readme << in.rdbuf();
  size_t keys = 0;
  for (const auto& top : d["properties"].GetObject()) {
    const std::string name = top.name.GetString();
    const bool nested = top.value.HasMember("properties") && top.value["type"] == "object";
    if (!nested) {
      ++keys;
      INFO(name);
      CHECK(readme.str().find("| `" + name + "`") != std::string::npos);
      continue;
    }
    for (const auto& inner : top.value["properties"].GetObject()) {
      ++keys;
      const std::string key = name + "." + inner.name.GetString();
      INFO(key);
      CHECK(readme.str().find("| `" + key + "`") != std::string::npos);
    }
  }
  CHECK(keys > 20);
}
