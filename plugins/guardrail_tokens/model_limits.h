// Which encoding, context window and output limit a model has: the config's `models` entries
// first (exact names or globs, in order), then the daemon's model table (config/prices/models.toml
// with the config's [prices] over it, asked through the host; a host too old to answer leaves
// the copy compiled into the plugin), with the encoding OpenAI's tiktoken assigns to the
// model's family.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace outrigger::tokens {

struct ModelLimits {
  std::string encoding;         // "o200k_base", "cl100k_base"; empty: unknown
  uint64_t context_window = 0;  // prompt + answer tokens; 0: unknown
  uint64_t max_input = 0;       // prompt tokens, where fewer than the window less the answer; 0: unknown
  uint64_t max_output = 0;      // 0: unknown
  std::string source;           // "models[2]", "price table openai/gpt-4o", for reasons
};

struct ModelRule {
  std::string match;  // exact name, or a glob (fnmatch: *, ?, [...])
  ModelLimits limits;
};

// OpenAI's family-to-encoding map, as tiktoken's encoding_for_model (prefixes): gpt-4o, gpt-4.1,
// gpt-4.5, gpt-5, o1, o3, o4, chatgpt-4o, gpt-oss -> o200k_base; gpt-4, gpt-3.5, gpt-35,
// text-embedding-3, text-embedding-ada-002 -> cl100k_base. Empty for other models. A
// "provider/" prefix is ignored.
std::string_view encodingForModel(std::string_view model);

class ModelTable {
 public:
  // `rules` are consulted first; `use_price_table` adds the compiled-in table after them.
  ModelTable(std::vector<ModelRule> rules, bool use_price_table);

  // The host's model table: true with the limits it gives `model` (all 0: it has none), false
  // when the host has no table to ask (then the compiled-in copy answers).
  using HostTable = std::function<bool(std::string_view model, ModelLimits* out)>;

  // The limits for `model`; encoding falls back to `default_encoding` when nothing names one.
  // nullopt when neither a rule, the model table nor the family map knows the model.
  std::optional<ModelLimits> find(std::string_view model, const HostTable& host = {}) const;

  // Entries read from the price table (for tests).
  size_t priceEntries() const { return prices_.size(); }

 private:
  struct PriceEntry {
    std::string model;  // without provider
    std::string key;    // provider/model
    uint64_t context_window, max_input, max_output;
  };
  const PriceEntry* priceFor(std::string_view model) const;

  std::vector<ModelRule> rules_;
  bool use_price_table_;
  std::vector<PriceEntry> prices_;
};

}  // namespace outrigger::tokens
