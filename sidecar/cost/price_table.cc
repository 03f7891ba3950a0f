#include "cost/price_table.h"

#include <algorithm>
#include <cctype>

namespace outrigger::cost {
namespace {

bool digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

// True when `model` ends with "-" followed by `suffix_len` characters that `shape` accepts.
template <class Shape>
bool endsWith(std::string_view model, size_t suffix_len, Shape shape) {
  if (model.size() <= suffix_len + 1 || model[model.size() - suffix_len - 1] != '-') return false;
  return shape(model.substr(model.size() - suffix_len));
}

}  // namespace

double costOf(const ModelPrice& p, const Usage& u) {
  // OpenAI's cached_tokens and Anthropic's cache counts (mapped by the provider plugin) are all
  // parts of prompt_tokens; reasoning_tokens is part of completion_tokens. Each token is priced
  // exactly once, at the most specific price its kind has.
  uint64_t read = std::min(u.cached_tokens, u.prompt_tokens);
  uint64_t write = std::min<uint64_t>(u.cache_write_tokens, u.prompt_tokens - read);
  uint64_t fresh = u.prompt_tokens - read - write;
  uint64_t reasoning = std::min(u.reasoning_tokens, u.completion_tokens);
  uint64_t visible = u.completion_tokens - reasoning;
  return double(fresh) * p.input + double(read) * p.cache_read.value_or(p.input) +
         double(write) * p.cache_write.value_or(p.input) + double(visible) * p.output +
         double(reasoning) * p.reasoning.value_or(p.output);
}

std::string_view undated(std::string_view m) {
  auto date = [](std::string_view s) {  // YYYY-MM-DD
    return s.size() == 10 && s[4] == '-' && s[7] == '-' && digits(s.substr(0, 4)) && digits(s.substr(5, 2)) &&
           digits(s.substr(8, 2));
  };
  if (endsWith(m, 10, date)) return m.substr(0, m.size() - 11);
  if (endsWith(m, 8, digits)) return m.substr(0, m.size() - 9);  // YYYYMMDD (Anthropic)
  if (endsWith(m, 4, digits)) return m.substr(0, m.size() - 5);  // MMDD or YYMM (gpt-4-0613, mistral-large-2407)
  if (endsWith(m, 6, [](std::string_view s) { return s == "latest"; })) return m.substr(0, m.size() - 7);
  return m;
}

void PriceTable::add(ModelPrice price) {
  std::string key = price.key();
  // An entry of the same provider/model is replaced in place: its aliases keep pointing at it. A
  // name that is only another entry's alias becomes an entry of its own and leaves that one be.
  if (auto it = by_key_.find(key); it != by_key_.end() && it->second->key() == key) {
    auto& slot = *std::find_if(entries_.begin(), entries_.end(), [&](const auto& e) { return e.get() == it->second; });
    for (const std::string& a : price.aliases) {
      std::string alias = price.provider + "/" + a;
      auto named = by_key_.find(alias);
      if (named != by_key_.end() && named->second->key() == alias) continue;  // an entry of its own
      by_key_[alias] = slot.get();
    }
    *slot = std::move(price);
    return;
  }
  entries_.push_back(std::make_unique<ModelPrice>(std::move(price)));
  const ModelPrice* e = entries_.back().get();
  by_key_[key] = e;
  for (const std::string& a : e->aliases) by_key_.emplace(e->provider + "/" + a, e);
}

const ModelPrice* PriceTable::get(std::string_view key) const {
  auto it = by_key_.find(std::string(key));
  return it == by_key_.end() ? nullptr : it->second;
}

const ModelPrice* PriceTable::find(const std::vector<std::string_view>& providers, std::string_view model) const {
  if (model.empty()) return nullptr;
  const std::string_view ids[] = {model, undated(model)};
  size_t id_count = ids[1] == model ? 1 : 2;
  for (size_t i = 0; i < id_count; ++i) {
    std::string id(ids[i]);
    for (std::string_view p : providers) {
      if (p.empty()) continue;
      if (const ModelPrice* e = get(std::string(p) + "/" + id)) return e;
    }
    if (id.find('/') != std::string::npos) {
      if (const ModelPrice* e = get(id)) return e;
    }
  }
  for (std::string_view p : providers) {
    if (p.empty()) continue;
    if (const ModelPrice* e = get(std::string(p) + "/*")) return e;
  }
  return nullptr;
}

namespace {

bool hasLimits(const ModelPrice& p) { return p.context_window || p.max_input || p.max_output; }

bool namedLike(const ModelPrice& p, std::string_view name) {
  return p.model == name || std::find(p.aliases.begin(), p.aliases.end(), name) != p.aliases.end();
}

}  // namespace

const ModelPrice* PriceTable::limitsOf(const std::vector<std::string_view>& providers, std::string_view model) const {
  if (const ModelPrice* e = find(providers, model); e && hasLimits(*e)) return e;
  std::string_view bare = model.substr(model.rfind('/') == std::string_view::npos ? 0 : model.rfind('/') + 1);
  if (bare.empty()) return nullptr;
  for (std::string_view name : {bare, undated(bare)}) {
    for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
      if (hasLimits(**it) && namedLike(**it, name)) return it->get();
    }
  }
  const ModelPrice* best = nullptr;
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
    const ModelPrice& e = **it;
    if (!hasLimits(e) || bare.size() <= e.model.size() || bare[e.model.size()] != '-' ||
        bare.substr(0, e.model.size()) != e.model || e.model == "*") {
      continue;
    }
    if (!best || e.model.size() > best->model.size()) best = &e;
  }
  return best;
}

}  // namespace outrigger::cost
