// An instance of the built-in limiter.memory plugin (its real shared library), for the routes a
// test builds by hand. Its buckets belong to the instance name for the whole process: give each
// test its own name.
#pragma once

#include <string>

#include "chain/chain.h"
#include "chain/host_api.h"
#include "plugin/instance.h"
#include "plugin/loader.h"

namespace outrigger::testing {

inline chain::Stage memoryLimiterStage(const std::string& name, const std::string& config_json) {
  auto types = plugin::loadLibrary(OUTRIGGER_PLUGIN_DIR "/limiter_memory.so").value();
  config::InstanceSettings is{name, "limiter", "memory", config_json, config::OnError::kDeny, "t:1", {}};
  return {plugin::PluginInstance::create(*types.at(0), is, chain::hostApiTemplate()).value(), "limiter/" + name};
}

}  // namespace outrigger::testing
