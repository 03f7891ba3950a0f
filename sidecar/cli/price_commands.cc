// outrigger prices import | list: the price table's maintenance commands (sidecar/cost).
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/output_file.h"
#include "config/config.h"
#include "cost/price_sources.h"

namespace outrigger::cli {
namespace {

std::string perMillion(const std::optional<double>& usd_per_token) {
  if (!usd_per_token) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", *usd_per_token * 1e6);
  return buf;
}

}  // namespace

int importPrices(const Options& opt) {
  auto entries = cost::loadPriceFile(opt.price_file);
  if (!entries.ok()) {
    std::fprintf(stderr, "outrigger prices import: %s\n", entries.status().message().c_str());
    return 1;
  }
  // LiteLLM names some models twice ("deepseek-chat" and "deepseek/deepseek-chat" under provider
  // deepseek): one key each, the later entry winning as when the daemon reads the map itself; two
  // tables of one name would make the TOML unreadable.
  std::map<std::string, const cost::ModelPrice*> by_key;
  for (const cost::ModelPrice& p : entries.value()) {
    bool wanted = opt.providers.empty() ||
                  std::find(opt.providers.begin(), opt.providers.end(), p.provider) != opt.providers.end();
    if (wanted) by_key[p.key()] = &p;
  }
  std::vector<const cost::ModelPrice*> kept;
  for (const auto& [key, p] : by_key) kept.push_back(p);
  std::string text = cost::writePriceToml(kept, opt.snapshot.empty() ? opt.price_file : opt.snapshot);
  if (opt.price_out.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else {
    std::string error;
    if (!writeWholeFile(opt.price_out, text, &error)) {
      std::fprintf(stderr, "outrigger prices import: %s\n", error.c_str());
      return 1;
    }
  }
  std::fprintf(stderr, "outrigger prices import: %zu entries written (of %zu priced per token in %s)\n", kept.size(),
               entries->size(), opt.price_file.c_str());
  return 0;
}

int listPrices(const Options& opt) {
  auto settings = opt.config_path.empty() ? config::loadDefaultConfig() : config::loadConfigFile(opt.config_path);
  if (!settings.ok()) {
    std::fprintf(stderr, "outrigger prices list: %s\n", settings.status().message().c_str());
    return 1;
  }
  auto table = cost::buildPriceTable(settings->prices.file, settings->prices.entries);
  if (!table.ok()) {
    std::fprintf(stderr, "outrigger prices list: %s\n", table.status().message().c_str());
    return 1;
  }
  std::printf("prices: %s (USD per 1M tokens)\n", table.value()->snapshot.c_str());
  std::printf("%-40s %10s %10s %10s %11s %10s %9s %9s\n", "provider/model", "input", "output", "cache_read",
              "cache_write", "reasoning", "context", "max_out");
  for (const auto& p : table.value()->entries()) {
    if (!opt.filter.empty() && p->key().find(opt.filter) == std::string::npos) continue;
    std::printf("%-40s %10s %10s %10s %11s %10s %9llu %9llu\n", p->key().c_str(), perMillion(p->input).c_str(),
                perMillion(p->output).c_str(), perMillion(p->cache_read).c_str(), perMillion(p->cache_write).c_str(),
                perMillion(p->reasoning).c_str(), static_cast<unsigned long long>(p->context_window),
                static_cast<unsigned long long>(p->max_output));
  }
  return 0;
}

}  // namespace outrigger::cli
