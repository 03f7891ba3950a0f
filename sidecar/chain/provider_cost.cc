// What an attempt cost. A provider that knows its bill reports cost_usd; most report only
// usage, and the core prices it from the chain's table (cost/price_table.h) by the model that
// answered: the response's model, else the model the attempt asked for. A model the table lacks
// is never guessed at: its cost counts as 0, and the span, the record and /metrics say so.
#include <cmath>
#include <string>

#include "chain/request_context.h"
#include "chain/span_attributes.h"
#include "cost/price_table.h"
#include "plugin/str_view.h"

namespace outrigger::chain {

double ProviderStage::attemptCost(plugin::PluginInstance* inst, std::string_view answered, std::string_view asked,
                                  const Usage& usage, double reported_usd, std::string_view* how, std::string* entry) {
  RequestContext& r = ctx_;
  // A plugin's figure that is no amount (NaN, infinite, negative) would run the cost counters
  // backwards or jam a budget: it counts as not reported.
  if (!std::isfinite(reported_usd) || reported_usd < 0) reported_usd = 0;
  std::string_view model = answered.empty() ? asked : answered;
  bool has_usage = usage.prompt_tokens || usage.completion_tokens;
  double usd = reported_usd;
  const cost::ModelPrice* price = nullptr;
  if (reported_usd > 0) {
    *how = "provider";
  } else if (!has_usage) {
    *how = "none";
  } else {
    // The instance name first ([instances.deepseek] of type provider.openai prices as
    // deepseek/*), then the plugin type ("openai", "anthropic").
    std::vector<std::string_view> providers = {inst->name(), inst->type().name};
    const cost::PriceTable* table = r.chain_->prices.get();
    if (table) price = table->find(providers, model);
    if (table && !price && !answered.empty() && answered != asked) price = table->find(providers, asked);
    if (price) {
      usd = cost::costOf(*price, usage);
      *how = "table";
      *entry = price->key();
    } else {
      *how = "unpriced";
      r.cost_unpriced_ = true;
    }
  }
  if (has_usage || usd > 0) {
    r.engine_.usageMeter().add(r.route_->name, inst->name(), model, r.tenantLabel(), usage, usd, *how != "unpriced");
  }
  return usd;
}

outrigger_response_view ProviderStage::priced(plugin::PluginInstance* inst, const outrigger_response_view& reported) {
  bool hedge = isHedge(inst);
  std::string_view how;
  std::string entry;
  outrigger_response_view out = reported;
  out.cost_usd = attemptCost(inst, sv(reported.model), hedge ? hedge_.model : ctx_.model_, usageOf(reported),
                             reported.cost_usd, &how, &entry);
  size_t span = hedge ? hedge_.span : attempt_span_;
  if (traced()) describeAttemptCost(&ctx_.spans_, span, how, std::move(entry));
  return out;
}

}  // namespace outrigger::chain
