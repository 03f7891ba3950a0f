#include "traces/store_location.h"

#include <rapidjson/document.h>

#include "traces/trace_store.h"

namespace outrigger::traces {

std::string storePathOf(const config::Settings& settings) {
  for (const config::InstanceSettings& instance : settings.instances) {
    if (instance.kind != "exporter" || instance.type != "sqlite") continue;
    rapidjson::Document d;
    d.Parse(instance.config_json.c_str(), instance.config_json.size());
    if (!d.HasParseError() && d.IsObject() && d.HasMember("path") && d["path"].IsString()) {
      return d["path"].GetString();
    }
    return defaultStorePath();
  }
  return {};
}

}  // namespace outrigger::traces
