#include "cost/usage_meter.h"

#include <cstdio>

#include "common/utf8.h"
#include "http/http_metrics.h"

namespace outrigger::cost {
namespace {

constexpr std::string_view kOther = "_other";

// Each part as its length and its text: a separator byte could be part of a model name (an
// upstream's, or one a caller asked for), which would put one tenant's spending in another's
// series. The parts are as the labels show them: two models that differ only in bytes that are
// not UTF-8 are one label set, so one series.
std::string keyOf(std::string_view route, std::string_view provider, std::string_view model, std::string_view tenant) {
  std::string key, repaired;
  key.reserve(route.size() + provider.size() + model.size() + tenant.size() + 16);
  for (std::string_view part : {route, provider, model, tenant}) {
    if (!validUtf8(part)) part = repaired = utf8Replaced(part);  // rare: no copy otherwise
    key.append(std::to_string(part.size())).push_back(':');
    key.append(part);
  }
  return key;
}

std::string number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

void UsageSeries::add(const UsageSeries& o) {
  attempts += o.attempts;
  unpriced += o.unpriced;
  input += o.input;
  output += o.output;
  cache_read += o.cache_read;
  cache_write += o.cache_write;
  reasoning += o.reasoning;
  cost_usd += o.cost_usd;
}

bool UsageSeriesCap::admit(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  if (admitted_.count(key)) return true;
  if (admitted_.size() >= max_) return false;
  admitted_.insert(key);
  return true;
}

UsageSeries& UsageMeter::seriesFor(std::string_view route, std::string_view provider, std::string_view model,
                                   std::string_view tenant) {
  std::string key = keyOf(route, provider, model, tenant);
  if (auto it = series_.find(key); it != series_.end()) return it->second;
  if (!cap_->admit(key)) {
    // Only the model is the caller's to vary without bound: the route and provider are the
    // config's, the tenant label is capped already ([metrics] max_tenants). Keeping them lets a
    // cost alert by route or tenant see spending past the cap.
    ++overflowed_;
    model = kOther;
    key = keyOf(route, provider, model, tenant);
  }
  UsageSeries& s = series_[key];
  if (s.route.empty()) s.route = route, s.provider = provider, s.model = model, s.tenant = tenant;
  return s;
}

void UsageMeter::add(std::string_view route, std::string_view provider, std::string_view model, std::string_view tenant,
                     const Usage& u, double cost_usd, bool priced) {
  std::lock_guard<std::mutex> lock(mu_);
  UsageSeries& s = seriesFor(route, provider, model, tenant);
  ++s.attempts;
  if (!priced) ++s.unpriced;
  s.input += u.prompt_tokens;
  s.output += u.completion_tokens;
  s.cache_read += u.cached_tokens;
  s.cache_write += u.cache_write_tokens;
  s.reasoning += u.reasoning_tokens;
  s.cost_usd += cost_usd;
}

void UsageMeter::mergeInto(std::map<std::string, UsageSeries>* merged, uint64_t* overflowed) const {
  std::lock_guard<std::mutex> lock(mu_);
  *overflowed += overflowed_;
  for (const auto& [key, s] : series_) {
    auto [it, added] = merged->try_emplace(key);
    if (added) it->second.route = s.route, it->second.provider = s.provider, it->second.model = s.model,
               it->second.tenant = s.tenant;
    it->second.add(s);
  }
}

std::string renderUsageMetrics(const std::map<std::string, UsageSeries>& merged, uint64_t overflowed) {
  auto labels = [](const UsageSeries& s) {
    return "route=\"" + http::escapeLabel(s.route) + "\",provider=\"" + http::escapeLabel(s.provider) +
           "\",model=\"" + http::escapeLabel(s.model) + "\"" +
           (s.tenant.empty() ? std::string() : ",tenant=\"" + http::escapeLabel(s.tenant) + "\"");
  };
  std::string out =
      "# HELP outrigger_tokens_total Tokens provider attempts reported, by type (cache_read and cache_write are "
      "part of input, reasoning part of output).\n# TYPE outrigger_tokens_total counter\n";
  for (const auto& [key, s] : merged) {
    std::string l = labels(s);
    const std::pair<const char*, uint64_t> types[] = {{"input", s.input},           {"output", s.output},
                                                      {"cache_read", s.cache_read}, {"cache_write", s.cache_write},
                                                      {"reasoning", s.reasoning}};
    for (const auto& [type, n] : types) {
      out += "outrigger_tokens_total{" + l + ",type=\"" + type + "\"} " + std::to_string(n) + "\n";
    }
  }
  out += "# HELP outrigger_cost_usd_total USD provider attempts cost, from the provider or the price table.\n"
         "# TYPE outrigger_cost_usd_total counter\n";
  for (const auto& [key, s] : merged) out += "outrigger_cost_usd_total{" + labels(s) + "} " + number(s.cost_usd) + "\n";
  out += "# HELP outrigger_cost_unpriced_total Provider attempts whose model has no price (their cost counts as 0).\n"
         "# TYPE outrigger_cost_unpriced_total counter\n";
  for (const auto& [key, s] : merged) {
    out += "outrigger_cost_unpriced_total{" + labels(s) + "} " + std::to_string(s.unpriced) + "\n";
  }
  out += http::renderScalar("outrigger_usage_series_overflow_total", "counter",
                            "Provider attempts counted under route/provider/model \"_other\": the label sets reached their cap.",
                            double(overflowed));
  return out;
}

}  // namespace outrigger::cost
