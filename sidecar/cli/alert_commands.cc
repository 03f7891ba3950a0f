// outrigger alerts rules: the config's alert rules as a Prometheus rules file (sidecar/alerts).
#include <cstdio>
#include <fstream>

#include "alerts/prometheus_rules.h"
#include "cli/commands.h"
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
  std::ofstream out(opt.price_out, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) {
    std::fprintf(stderr, "outrigger alerts rules: cannot write %s\n", opt.price_out.c_str());
    return 1;
  }
  return 0;
}

}  // namespace outrigger::cli
