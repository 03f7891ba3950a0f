// outrigger alerts rules: the config's alert rules as a Prometheus rules file (sidecar/alerts).
#include <cstdio>
#include <fstream>

#include "alerts/prometheus_rules.h"
#include "cli/commands.h"
#include "cli/output_file.h"
#include "config/config.h"

namespace outrigger::cli {

int alertRules(const Options& opt) {
  auto settings = opt.config_path.empty() ? config::loadDefaultConfig() : config::loadConfigFile(opt.config_path);
  if (!settings.ok()) {
    std::fprintf(stderr, "outrigger alerts rules: %s\n", settings.status().message().c_str());
    return 1;
  }
  std::string text = alerts::prometheusRulesFile(settings->alerts);
  if (opt.price_out.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }
  std::string error;
  if (!writeWholeFile(opt.price_out, text, &error)) {
    std::fprintf(stderr, "outrigger alerts rules: %s\n", error.c_str());
    return 1;
  }
  return 0;
}

}  // namespace outrigger::cli
