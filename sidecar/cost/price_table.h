// What models cost: a table of per-token USD prices keyed by "provider/model", the lookup that
// finds the price of the model that answered, and the arithmetic that turns usage into USD.
// Immutable once built (price_sources.h builds it); shared by every worker through the chain
// snapshot, so lookups take no lock.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "api/response_sink.h"

namespace outrigger::cost {

// One model's prices, in USD per token (LiteLLM's unit, not per 1K or 1M).
struct ModelPrice {
  std::string provider;  // "openai", "anthropic", an instance name, ...
  std::string model;     // "gpt-4o"; "*" prices every model of the provider
  double input = 0;
  double output = 0;
  // Unset: the token is billed at the input price (cache) or the output price (reasoning).
  std::optional<double> cache_read = {}, cache_write = {}, reasoning = {};
  uint64_t context_window = 0;  // prompt and answer tokens together; 0: unknown
  uint64_t max_input = 0;       // prompt tokens, where less than the window less the answer; 0: unknown
  uint64_t max_output = 0;      // 0: unknown
  std::vector<std::string> aliases = {};  // other names of the same model ("claude-sonnet-4-0")
  std::string where = {};                 // "file:line" the entry came from, for messages

  std::string key() const { return provider + "/" + model; }
};

// USD for `usage` at `price`, each token counted once: the prompt splits into cache reads,
// cache writes and the rest; the completion into reasoning and the rest. Counts a provider
// reports inconsistently (more cached than prompt tokens) are clamped, never negative.
double costOf(const ModelPrice& price, const Usage& usage);

// A model id without its snapshot date or channel suffix: "gpt-4o-2024-08-06" -> "gpt-4o",
// "claude-3-5-sonnet-20241022" -> "claude-3-5-sonnet", "gpt-4-0613" -> "gpt-4",
// "mistral-large-latest" -> "mistral-large". The id itself when it has none.
std::string_view undated(std::string_view model);

class PriceTable {
 public:
  // Adds `price`, replacing an entry with the same key (a later source overrides an earlier
  // one); its aliases become keys too.
  void add(ModelPrice price);

  // The price of `model` as served by a provider known under any of `providers` (most specific
  // first: the instance name, then its plugin type), or nullptr. Tries, in order: each provider
  // with the model as given, the model named with its own provider ("deepseek/deepseek-chat"),
  // then the same with the model undated, then each provider's "*" entry. Never a guess across
  // providers: a model of another provider with the same name is not a match.
  const ModelPrice* find(const std::vector<std::string_view>& providers, std::string_view model) const;
  const ModelPrice* get(std::string_view key) const;

  // The entry holding `model`'s token limits (a context window, max input or max output): the
  // one find() picks for `providers` when it has any, else the entry named like the model (or
  // an alias of it) under any provider, then named like it undated, then the longest whose name
  // starts the model followed by '-'; the latest added wins among equals, so the config's
  // [prices] go over the compiled-in table. nullptr when no entry has limits. A "provider/"
  // prefix on the model is read as find() reads it, then ignored.
  const ModelPrice* limitsOf(const std::vector<std::string_view>& providers, std::string_view model) const;

  size_t size() const { return entries_.size(); }
  const std::vector<std::unique_ptr<ModelPrice>>& entries() const { return entries_; }

  std::string snapshot;  // the date (and source) of the table's prices, for `outrigger prices list`

 private:
  std::vector<std::unique_ptr<ModelPrice>> entries_;
  std::unordered_map<std::string, const ModelPrice*> by_key_;
};

}  // namespace outrigger::cost
