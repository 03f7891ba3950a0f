// guardrail.pii through the real loader: the shared library loads, its schema takes the example
// config (config/pii.toml) and refuses a bad one, and a chain builds with it.
#include <catch2/catch.hpp>

#include <outrigger/plugin.hpp>

#include "chain/chain.h"
#include "support/chain_build.h"
#include "config/config.h"
#include "plugin/loader.h"
#include "support/daemon_process.h"

using namespace outrigger;

TEST_CASE("the pii plugin loads through the real loader with its schema") {
  plugin::PluginCatalog catalog;
  REQUIRE(catalog.addDirectory(OUTRIGGER_PLUGIN_DIR).isOk());
  const plugin::PluginType* t = catalog.find(OUTRIGGER_KIND_GUARDRAIL, "pii");
  REQUIRE(t);
  CHECK(t->schema_json.find("on_detector_error") != std::string::npos);
  CHECK(t->abi_major == OUTRIGGER_ABI_MAJOR);
}

TEST_CASE("the example config/pii.toml builds a chain with the pii guardrail created") {
  auto settings = config::loadConfigFile(std::string(OUTRIGGER_SOURCE_DIR) + "/config/pii.toml");
  REQUIRE(settings.ok());
  settings->plugin_dirs = {OUTRIGGER_PLUGIN_DIR};
  auto chain = chain::buildChain(settings.value(), 2, 1);
  REQUIRE(chain.ok());
  CHECK(chain.value()->workers.size() == 2);
}

TEST_CASE("a pii config the schema or the plugin refuses fails the chain build, naming the key") {
  auto build = [](const std::string& config) {
    return testing::chainBuildError("[instances.mock]\ntype = \"provider.mock\"\n"
                                    "[instances.mock.config]\nmode = \"echo\"\n[instances.pii]\ntype = \"guardrail.pii\"\n"
                                    "[instances.pii.config]\n" + config +
                                    "\n[routes.default]\nguardrails = [\"pii\"]\nprovider = \"mock\"\n");
  };
  CHECK(build("action = \"redact\"").empty());
  CHECK(build("action = \"shred\"") != "");
  CHECK(build("actions = { passport = \"deny\" }").find("passport") != std::string::npos);
  CHECK(build("custom = [{ name = \"x\", pattern = \"(unclosed\" }]").find("(unclosed") != std::string::npos);
  CHECK(build("entitiez = []") != "");
}
