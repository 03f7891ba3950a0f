// Where prices come from, in the order they override each other: the table embedded in the
// binary (config/prices/models.toml, compiled in like the default config), an optional file the
// config names ([prices] file: Outrigger's TOML table or LiteLLM's
// model_prices_and_context_window.json), then the config's own entries ([prices."p/m"]).
// Runs on the main thread while a config loads; never on the request path.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#define TOML_EXCEPTIONS 1
#include <toml++/toml.h>

#include "common/status.h"
#include "cost/price_table.h"

namespace outrigger::cost {

// The keys of one price entry (a TOML table), in every place one is written.
//   input, output          USD per token (required)
//   cache_read, cache_write, reasoning   USD per token (optional)
//   context_window, max_input, max_output   tokens (optional): the window prompt and answer
//                          share, the most prompt tokens where that is less (gpt-5: 272k of 400k)
//   aliases                other model ids of the same entry (optional)
// Reads `t` into `out` (whose provider and model are set from `key`, "provider/model"). Returns
// an error "source:line: message" for an unknown key, a wrong type or a bad key.
std::optional<std::string> readPriceEntry(std::string_view key, const toml::table& t, std::string_view source,
                                          ModelPrice* out);

// Outrigger's table format: `snapshot = "..."` and [models."provider/model"] entries.
Expected<PriceTable> parsePriceToml(std::string_view text, std::string_view source);

// LiteLLM's JSON: chat, completion, responses and embedding entries with token prices, keyed
// by litellm_provider and the model id without that provider's prefix. Entries priced some
// other way (per image, per second) are skipped; `skipped` (optional) counts them.
Expected<std::vector<ModelPrice>> parseLiteLlmJson(std::string_view text, std::string_view source,
                                                    size_t* skipped = nullptr);

// Writes entries in Outrigger's table format (what `outrigger prices import` prints).
std::string writePriceToml(const std::vector<const ModelPrice*>& entries, std::string_view snapshot);

// The embedded table's text and its parsed form (parsed once; the build checks it parses).
std::string_view embeddedPriceText();
Expected<std::shared_ptr<const PriceTable>> embeddedPrices();

// A price file by its extension: ".json" is LiteLLM's format, anything else Outrigger's TOML.
Expected<std::vector<ModelPrice>> loadPriceFile(const std::string& path);

// The table a config prices with: the embedded one, then `file` (when not empty), then
// `overrides`, each replacing entries of the same key.
Expected<std::shared_ptr<const PriceTable>> buildPriceTable(const std::string& file,
                                                            const std::vector<ModelPrice>& overrides);

}  // namespace outrigger::cost
