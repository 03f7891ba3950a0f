// guardrail.json through the real loader: the shared library loads with its schema, the example
// config (config/structured_output.toml) builds a chain with it, and a config the schema or the
// plugin refuses fails the build naming the key.
#include <catch2/catch.hpp>

#include <outrigger/plugin.hpp>

#include <fstream>
#include <sstream>

#include "bounded_json.h"
#include "json_settings.h"

#include "chain/chain.h"
#include "support/chain_build.h"
#include "config/config.h"
#include "plugin/loader.h"

using namespace outrigger;
using outrigger::jsonguard::configSchema;
using outrigger::jsonguard::kConfigKeyCount;
using outrigger::jsonguard::kConfigKeys;

TEST_CASE("the json plugin loads through the real loader with its schema") {
  plugin::PluginCatalog catalog;
  REQUIRE(catalog.addDirectory(OUTRIGGER_PLUGIN_DIR).isOk());
  const plugin::PluginType* t = catalog.find(OUTRIGGER_KIND_GUARDRAIL, "json");
  REQUIRE(t);
  CHECK(t->schema_json.find("on_truncated") != std::string::npos);
  CHECK(t->abi_major == OUTRIGGER_ABI_MAJOR);
}

TEST_CASE("the example config/structured_output.toml builds a chain with the json guardrail created") {
  auto settings = config::loadConfigFile(std::string(OUTRIGGER_SOURCE_DIR) + "/config/structured_output.toml");
  REQUIRE(settings.ok());
  settings->plugin_dirs = {OUTRIGGER_PLUGIN_DIR};
  auto chain = chain::buildChain(settings.value(), 2, 1);
  INFO((chain.ok() ? "" : chain.status().message()));
  REQUIRE(chain.ok());
  CHECK(chain.value()->workers.size() == 2);
}

TEST_CASE("a json config the schema or the plugin refuses fails the chain build, naming the key") {
  auto build = [](const std::string& config) {
    return testing::chainBuildError("[instances.mock]\ntype = \"provider.mock\"\n"
                                    "[instances.json]\ntype = \"guardrail.json\"\n[instances.json.config]\n" + config +
                                    "\n[routes.default]\nguardrails = [\"json\"]\nprovider = \"mock\"\n");
  };
  CHECK(build("max_reasks = 2").empty());
  CHECK(build("schema = { type = \"object\", required = [\"id\"] }").empty());
  CHECK(build("max_reasks = 11").find("max_reasks") != std::string::npos);
  CHECK(build("streaming = \"sometimes\"").find("streaming") != std::string::npos);
  CHECK(build("repair_prompt = \"no placeholder\"").find("repair_prompt") != std::string::npos);
  CHECK(build("schema = { type = \"objekt\" }").find("schema") != std::string::npos);
  CHECK(build("schema = { pattern = \"(unclosed\" }").find("(unclosed") != std::string::npos);
  CHECK(build("max_reask = 1").find("max_reask") != std::string::npos);
}

TEST_CASE("the config schema is built from the key table and each key is in the README") {
  rapidjson::Document d;
  REQUIRE(json::parse(configSchema(), &d));
  REQUIRE(d["properties"].IsObject());
  CHECK(d["properties"].MemberCount() == kConfigKeyCount);
  std::ifstream in(std::string(OUTRIGGER_SOURCE_DIR) + "/plugins/guardrail_json/README.md");
  std::stringstream readme;
  readme << in.rdbuf();
  for (size_t i = 0; i < kConfigKeyCount; ++i) {
    INFO(kConfigKeys[i].name);
    CHECK(readme.str().find(std::string("| `") + kConfigKeys[i].name + "`") != std::string::npos);
    CHECK(d["properties"].HasMember(kConfigKeys[i].name));
  }
}
