// [prices]: a price file and the config's own price entries (the keys of an entry are
// cost::readPriceEntry's, the same as in the embedded table).
#include "config/config_parser.h"
#include "cost/price_sources.h"

namespace outrigger::config::detail {

void Parser::prices(const toml::table& t, PriceSettings* s) const {
  for (auto&& [k, v] : t) {
    std::string key(k.str());
    if (key == "file") {
      s->file = str(v, "file");
      if (!s->file.empty() && s->file[0] != '/') s->file = base_dir_ + "/" + s->file;
      continue;
    }
    if (!v.is_table()) {
      throw ParseError(source_ + ":" + std::to_string(k.source().begin.line) + ": unknown key '" + key +
                       "' in [prices] (expected file, or a table [prices.\"provider/model\"])");
    }
    cost::ModelPrice price;
    if (auto error = cost::readPriceEntry(key, *v.as_table(), source_, &price)) throw ParseError(*error);
    // ${ENV} in the aliases, as in every string of the config (readPriceEntry also reads the
    // embedded table and price files, where nothing is substituted).
    for (std::string& alias : price.aliases) alias = substitute(*v.as_table()->get("aliases"), alias);
    s->entries.push_back(std::move(price));
  }
}

}  // namespace outrigger::config::detail
