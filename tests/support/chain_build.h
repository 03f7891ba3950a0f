// Builds a chain from a TOML config the way the daemon does (parse, load the built-in plugins,
// create every instance), for tests of what a plugin's config check refuses.
#pragma once

#include <catch2/catch.hpp>

#include <string>

#include "chain/chain.h"
#include "config/config.h"

namespace outrigger::testing {

// The chain build's error message for `config_toml` (after a [plugins] section naming the
// built-in plugin folder), or "" when it builds.
inline std::string chainBuildError(const std::string& config_toml) {
  auto settings = config::parseConfig("[plugins]\ndirs = [\"" OUTRIGGER_PLUGIN_DIR "\"]\n" + config_toml, "test.toml", ".");
  REQUIRE(settings.ok());
  auto chain = chain::buildChain(settings.value(), 1, 1);
  return chain.ok() ? std::string() : chain.status().message();
}

}  // namespace outrigger::testing
