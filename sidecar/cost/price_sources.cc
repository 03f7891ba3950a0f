#include "cost/price_sources.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "bounded_json.h"

namespace outrigger::cost {
namespace {

std::string at(std::string_view source, const toml::node& n) {
  return std::string(source) + ":" + std::to_string(n.source().begin.line);
}

// A price: a finite, non-negative number (TOML integer or float).
std::optional<double> price(const toml::node& n) {
  std::optional<double> v = n.is_integer() ? std::optional<double>(double(*n.value<int64_t>())) : n.value<double>();
  if (!v || !std::isfinite(*v) || *v < 0) return std::nullopt;
  return v;
}

std::string_view text(const rapidjson::Value& e, const char* key) {
  auto it = e.FindMember(key);
  if (it == e.MemberEnd() || !it->value.IsString()) return {};
  return {it->value.GetString(), it->value.GetStringLength()};
}

Status invalid(std::string message) { return {Code::kInvalidArgument, std::move(message)}; }

double number(const rapidjson::Value& e, const char* key, bool* present) {
  auto it = e.FindMember(key);
  *present = it != e.MemberEnd() && it->value.IsNumber();
  return *present ? it->value.GetDouble() : 0;
}

// Prints a price so it reads back as the same double.
std::string priceText(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  double back = 0;
  for (int digits = 1; digits <= 17; ++digits) {  // the shortest text that round-trips
    char shorter[40];
    std::snprintf(shorter, sizeof shorter, "%.*g", digits, v);
    if (std::sscanf(shorter, "%lf", &back) == 1 && back == v) return shorter;
  }
  return buf;
}

}  // namespace

std::optional<std::string> readPriceEntry(std::string_view key, const toml::table& t, std::string_view source,
                                          ModelPrice* out) {
  size_t slash = key.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == key.size()) {
    return at(source, t) + ": price entry '" + std::string(key) + "' must be named \"provider/model\" (or \"provider/*\")";
  }
  out->provider = std::string(key.substr(0, slash));
  out->model = std::string(key.substr(slash + 1));
  out->where = at(source, t);
  static const std::set<std::string> kKeys = {"input",     "output",         "cache_read", "cache_write",
                                              "reasoning", "context_window", "max_input",  "max_output",
                                              "aliases"};
  bool has_input = false, has_output = false;
  for (auto&& [k, v] : t) {
    std::string name(k.str());
    std::string here = std::string(source) + ":" + std::to_string(k.source().begin.line);
    if (!kKeys.count(name)) {
      return here + ": unknown key '" + name + "' in price entry '" + std::string(key) +
             "' (expected one of: aliases, cache_read, cache_write, context_window, input, max_input, max_output, output, "
             "reasoning)";
    }
    if (name == "aliases") {
      const toml::array* a = v.as_array();
      if (!a) return here + ": 'aliases' must be an array of strings";
      for (const toml::node& e : *a) {
        if (!e.is_string()) return here + ": 'aliases' must be an array of strings";
        out->aliases.emplace_back(*e.value<std::string_view>());
      }
    } else if (name == "context_window" || name == "max_input" || name == "max_output") {
      std::optional<int64_t> n = v.value<int64_t>();
      if (!v.is_integer() || *n < 0) return here + ": '" + name + "' must be a non-negative integer";
      (name == "context_window" ? out->context_window : name == "max_input" ? out->max_input : out->max_output) =
          uint64_t(*n);
    } else {
      std::optional<double> p = price(v);
      if (!p) return here + ": '" + name + "' must be a non-negative number (USD per token)";
      if (name == "input") out->input = *p, has_input = true;
      else if (name == "output") out->output = *p, has_output = true;
      else if (name == "cache_read") out->cache_read = *p;
      else if (name == "cache_write") out->cache_write = *p;
      else out->reasoning = *p;
    }
  }
  if (!has_input || !has_output) {
    return out->where + ": price entry '" + std::string(key) + "' needs 'input' and 'output' (USD per token; 0 is free)";
  }
  return std::nullopt;
}

Expected<PriceTable> parsePriceToml(std::string_view text, std::string_view source) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return invalid(std::string(source) + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description()));
  }
  PriceTable table;
  for (auto&& [k, v] : root) {
    std::string name(k.str());
    if (name == "snapshot" && v.is_string()) {
      table.snapshot = *v.value<std::string>();
    } else if (name == "models" && v.is_table()) {
      for (auto&& [key, entry] : *v.as_table()) {
        if (!entry.is_table()) return invalid(at(source, entry) + ": [models.\"" + std::string(key.str()) + "\"] must be a table");
        ModelPrice p;
        if (auto err = readPriceEntry(key.str(), *entry.as_table(), source, &p)) return invalid(*err);
        table.add(std::move(p));
      }
    } else {
      return invalid(at(source, v) + ": unknown key '" + name + "' in a price table (expected snapshot and [models])");
    }
  }
  return table;
}

Expected<std::vector<ModelPrice>> parseLiteLlmJson(std::string_view json_text, std::string_view source, size_t* skipped) {
  rapidjson::Document d;
  json::ParseResult parsed = json::parse(json_text, &d);
  if (!parsed) return invalid(std::string(source) + ": at byte " + std::to_string(parsed.offset()) + ": " + parsed.reason());
  if (!d.IsObject()) return invalid(std::string(source) + ": a LiteLLM price map is a JSON object of models");
  static const std::set<std::string_view> kModes = {"chat", "completion", "responses", "embedding"};
  std::vector<ModelPrice> out;
  size_t skip = 0;
  for (const auto& m : d.GetObject()) {
    std::string_view key(m.name.GetString(), m.name.GetStringLength());
    const rapidjson::Value& e = m.value;
    if (key == "sample_spec" || !e.IsObject()) {
      ++skip;
      continue;
    }
    std::string_view mode = text(e, "mode");  // absent: a chat model in older copies
    bool has_in = false, has_out = false, has = false;
    ModelPrice p;
    p.provider = std::string(text(e, "litellm_provider"));
    p.input = number(e, "input_cost_per_token", &has_in);
    p.output = number(e, "output_cost_per_token", &has_out);
    bool token_priced = has_in && (has_out || mode == "embedding") && p.input >= 0 && p.output >= 0;
    if (p.provider.empty() || !token_priced || (!mode.empty() && !kModes.count(mode))) {
      ++skip;
      continue;
    }
    std::string prefix = p.provider + "/";
    p.model = std::string(key.substr(key.rfind(prefix, 0) == 0 ? prefix.size() : 0));
    // A negative price would make a request's cost negative (a counter going down, a budget
    // refunded): such an entry is skipped whole, as one without token prices is.
    bool bad_price = false;
    auto optionalPrice = [&](const char* name) -> std::optional<double> {
      double v = number(e, name, &has);
      if (!has) return std::nullopt;
      if (v < 0) bad_price = true;
      return v;
    };
    p.cache_read = optionalPrice("cache_read_input_token_cost");
    p.cache_write = optionalPrice("cache_creation_input_token_cost");
    p.reasoning = optionalPrice("output_cost_per_reasoning_token");
    if (bad_price) {
      ++skip;
      continue;
    }
    // Token counts past any model's (a typo, 1e30) are left unknown rather than cast out of range.
    auto tokens = [&](const char* name) -> uint64_t {
      double v = number(e, name, &has);
      return has && v > 0 && v < 1e15 ? uint64_t(v) : 0;
    };
    // LiteLLM gives the input limit only; whether the answer shares it (gpt-4o's 128k) or not
    // (gpt-5's 272k of 400k) it does not say, so it is taken as the whole window: a prompt the
    // model would take may be refused, never one it would not. The compiled-in table and the
    // config's entries can say both (context_window and max_input).
    p.context_window = tokens("max_input_tokens");
    p.max_output = tokens("max_output_tokens");
    p.where = std::string(source) + ": \"" + std::string(key) + "\"";
    out.push_back(std::move(p));
  }
  if (skipped) *skipped = skip;
  return out;
}

std::string writePriceToml(const std::vector<const ModelPrice*>& entries, std::string_view snapshot) {
  std::ostringstream out;
  out << "# USD per token. Written by `outrigger prices import`.\n";
  out << "snapshot = " << toml::value<std::string>(std::string(snapshot)) << "\n";
  for (const ModelPrice* p : entries) {
    out << "\n[models." << toml::value<std::string>(p->key()) << "]\n";
    out << "input = " << priceText(p->input) << "\noutput = " << priceText(p->output) << "\n";
    if (p->cache_read) out << "cache_read = " << priceText(*p->cache_read) << "\n";
    if (p->cache_write) out << "cache_write = " << priceText(*p->cache_write) << "\n";
    if (p->reasoning) out << "reasoning = " << priceText(*p->reasoning) << "\n";
    if (p->context_window) out << "context_window = " << p->context_window << "\n";
    if (p->max_input) out << "max_input = " << p->max_input << "\n";
    if (p->max_output) out << "max_output = " << p->max_output << "\n";
    if (!p->aliases.empty()) {
      toml::array a;
      for (const std::string& s : p->aliases) a.push_back(s);
      out << "aliases = " << a << "\n";
    }
  }
  return out.str();
}

Expected<std::shared_ptr<const PriceTable>> embeddedPrices() {
  static const Expected<std::shared_ptr<const PriceTable>> kTable = []() -> Expected<std::shared_ptr<const PriceTable>> {
    Expected<PriceTable> t = parsePriceToml(embeddedPriceText(), "<embedded prices>");
    if (!t.ok()) return t.status();
    return std::shared_ptr<const PriceTable>(std::make_shared<PriceTable>(std::move(t.value())));
  }();
  return kTable;
}

Expected<std::vector<ModelPrice>> loadPriceFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(Code::kNotFound, "cannot read price file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string body = ss.str();
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0) return parseLiteLlmJson(body, path);
  Expected<PriceTable> t = parsePriceToml(body, path);
  if (!t.ok()) return t.status();
  std::vector<ModelPrice> out;
  for (const auto& e : t->entries()) out.push_back(*e);
  return out;
}

Expected<std::shared_ptr<const PriceTable>> buildPriceTable(const std::string& file,
                                                            const std::vector<ModelPrice>& overrides) {
  Expected<std::shared_ptr<const PriceTable>> base = embeddedPrices();
  if (!base.ok()) return base.status();
  if (file.empty() && overrides.empty()) return base;
  auto table = std::make_shared<PriceTable>();
  table->snapshot = base.value()->snapshot;
  for (const auto& e : base.value()->entries()) table->add(*e);
  if (!file.empty()) {
    Expected<std::vector<ModelPrice>> loaded = loadPriceFile(file);
    if (!loaded.ok()) return loaded.status();
    for (ModelPrice& p : loaded.value()) table->add(std::move(p));
    table->snapshot += ", then " + file;
  }
  for (const ModelPrice& p : overrides) table->add(p);
  return std::shared_ptr<const PriceTable>(std::move(table));
}

}  // namespace outrigger::cost
