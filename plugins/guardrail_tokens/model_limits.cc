#include "model_limits.h"

#include <fnmatch.h>

#include <toml++/toml.h>

namespace outrigger::tokens {

std::string_view embeddedModelTable();  // embedded_models.cc, generated from config/prices/models.toml

namespace {

bool startsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

std::string_view withoutProvider(std::string_view model) {
  size_t slash = model.rfind('/');
  return slash == std::string_view::npos ? model : model.substr(slash + 1);
}

}  // namespace

std::string_view encodingForModel(std::string_view model) {
  model = withoutProvider(model);
  static constexpr std::string_view kO200k[] = {"gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4",
                                                "chatgpt-4o", "gpt-oss"};
  static constexpr std::string_view kCl100k[] = {"gpt-4", "gpt-3.5", "gpt-35", "text-embedding-3",
                                                 "text-embedding-ada-002"};
  for (std::string_view p : kO200k) {
    if (startsWith(model, p)) return "o200k_base";
  }
  for (std::string_view p : kCl100k) {
    if (startsWith(model, p)) return "cl100k_base";
  }
  return {};
}

ModelTable::ModelTable(std::vector<ModelRule> rules, bool use_price_table)
    : rules_(std::move(rules)), use_price_table_(use_price_table) {
  if (!use_price_table) return;
  toml::table table = toml::parse(embeddedModelTable());
  const toml::table* models = table["models"].as_table();
  if (!models) return;
  for (const auto& [key, node] : *models) {
    const toml::table* e = node.as_table();
    if (!e) continue;
    auto tokens = [&](const char* name) { return uint64_t(e->get(name) ? e->get(name)->value_or<int64_t>(0) : 0); };
    uint64_t window = tokens("context_window"), input = tokens("max_input"), output = tokens("max_output");
    if (!window && !input && !output) continue;
    std::string k(key.str());
    prices_.push_back({std::string(withoutProvider(k)), k, window, input, output});
  }
}

// The entry named like the model, else the longest entry whose name starts the model followed
// by '-' (a dated snapshot: gpt-4o-2024-08-06 -> gpt-4o).
const ModelTable::PriceEntry* ModelTable::priceFor(std::string_view model) const {
  const PriceEntry* best = nullptr;
  for (const PriceEntry& p : prices_) {
    if (p.model == model) return &p;
    if (model.size() > p.model.size() && startsWith(model, p.model) && model[p.model.size()] == '-' &&
        (!best || p.model.size() > best->model.size())) {
      best = &p;
    }
  }
  return best;
}

std::optional<ModelLimits> ModelTable::find(std::string_view model, const HostTable& host) const {
  std::string name(model);
  for (size_t i = 0; i < rules_.size(); ++i) {
    if (rules_[i].match == name || fnmatch(rules_[i].match.c_str(), name.c_str(), 0) == 0) {
      ModelLimits l = rules_[i].limits;
      if (l.encoding.empty()) l.encoding = encodingForModel(model);
      return l;
    }
  }
  std::string_view bare = withoutProvider(model);
  std::string_view encoding = encodingForModel(bare);
  ModelLimits from_host;
  if (use_price_table_ && host && host(model, &from_host)) {
    if (from_host.context_window || from_host.max_input || from_host.max_output) {
      from_host.encoding = encoding;
      return from_host;
    }
  } else if (const PriceEntry* p = priceFor(bare)) {
    return ModelLimits{std::string(encoding), p->context_window, p->max_input, p->max_output, "price table " + p->key};
  }
  if (!encoding.empty()) return ModelLimits{std::string(encoding), 0, 0, 0, "model family"};
  return std::nullopt;
}

}  // namespace outrigger::tokens
