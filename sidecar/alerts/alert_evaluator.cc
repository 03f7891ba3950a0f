#include "alerts/alert_evaluator.h"

#include <algorithm>
#include <cstdio>
#include <set>

namespace outrigger::alerts {
namespace {


double delta(double now, double base) { return now >= base ? now - base : now; }  // a reset counts from zero

std::string describe(const config::AlertRuleSettings& r) {
  char window[32];
  std::snprintf(window, sizeof window, "%us", r.window_s);
  if (r.kind == "cost") return "USD spent by " + r.by + " in " + window;
  if (r.kind == "error_rate") return std::string("share of requests that failed in ") + window;
  if (r.kind == "latency") {
    char q[16];
    std::snprintf(q, sizeof q, "p%g", r.quantile * 100);
    return std::string(q) + " request latency (s) over " + window;
  }
  if (r.kind == "guardrail_deny_rate") return std::string("share of requests a guardrail denied in ") + window;
  return "share of the budget spent";
}

std::string summaryOf(const config::AlertRuleSettings& r, const Labels& labels, double value) {
  if (!r.summary.empty()) return r.summary;
  std::string what;
  for (const auto& [k, v] : labels) what += (what.empty() ? "" : ", ") + k + " " + v;
  char figures[96];
  std::snprintf(figures, sizeof figures, ": %.6g above %.6g", value, r.threshold);
  return r.name + ": " + describe(r) + (what.empty() ? "" : " (" + what + ")") + figures;
}

}  // namespace

std::string fingerprintOf(const Labels& labels) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a 64
  auto mix = [&](std::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;  // a separator no label byte sequence ends with
  };
  for (const auto& [k, v] : labels) mix(k), mix(v);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

AlertEvaluator::AlertEvaluator(std::vector<config::AlertRuleSettings> rules, uint32_t repeat_interval_s,
                               std::array<double, 16> bucket_bounds, uint32_t evaluate_every_ms, int64_t delivery_ms)
    : rules_(std::move(rules)),
      repeat_ms_(int64_t(repeat_interval_s) * 1000),
      // Four evaluations, as Prometheus gives its own resends; then, when a webhook can lose the
      // repeat, its attempts, the wait before it is sent again, and that send's attempts.
      expiry_margin_ms_(4 * int64_t(evaluate_every_ms) + (delivery_ms > 0 ? 2 * delivery_ms + kResendLostMs : 0)),
      bounds_(bucket_bounds) {
  for (const auto& r : rules_) {
    if (r.kind != "budget_used") histories_[r.window_s];
  }
}

const AlertInputs& AlertEvaluator::baseline(uint32_t window_s, int64_t now_ms) const {
  int64_t at = now_ms - int64_t(window_s) * 1000;
  const AlertInputs* base = &zero_;
  auto history = histories_.find(window_s);
  if (history == histories_.end()) return *base;
  for (const auto& [t, inputs] : history->second) {
    if (t > at) break;
    base = &inputs;
  }
  return *base;
}

double AlertEvaluator::quantile(double q, const std::array<double, 17>& buckets) const {
  double total = 0;
  for (double b : buckets) total += b;
  if (total <= 0) return 0;
  double rank = q * total, below = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (below + buckets[i] >= rank && buckets[i] > 0) {
      double lower = i == 0 ? 0 : bounds_[i - 1];
      return lower + (bounds_[i] - lower) * (rank - below) / buckets[i];
    }
    below += buckets[i];
  }
  return bounds_.back();  // in the +Inf bucket: the highest finite bound, as histogram_quantile says
}

std::map<Labels, double> AlertEvaluator::values(const config::AlertRuleSettings& r, const AlertInputs& now,
                                                int64_t now_ms) const {
  std::map<Labels, double> out;
  if (r.kind == "budget_used") {
    for (const auto& [k, used] : now.budget_used) out[{{"plugin_instance", k.first}, {"key", k.second}}] = used;
    return out;
  }
  const AlertInputs& base = baseline(r.window_s, now_ms);
  auto wanted = [&](const std::string& route) { return r.route.empty() || r.route == route; };
  auto requests = [&](const std::string& route) {
    auto b = base.routes.find(route);
    auto n = now.routes.find(route);
    if (n == now.routes.end()) return 0.0;
    return delta(n->second.requests, b == base.routes.end() ? 0 : b->second.requests);
  };
  double min_requests = double(std::max<uint64_t>(r.min_requests, 1));
  if (r.kind == "cost") {
    for (const auto& [k, usd] : now.cost) {
      const auto& [route, tenant, model] = k;
      if (!wanted(route)) continue;
      auto b = base.cost.find(k);
      double d = delta(usd, b == base.cost.end() ? 0 : b->second);
      const std::string& group = r.by == "tenant" ? tenant : r.by == "route" ? route : model;
      out[{{r.by, group}}] += d;
    }
  } else if (r.kind == "error_rate" || r.kind == "latency") {
    for (const auto& [route, fig] : now.routes) {
      double n = requests(route);
      if (!wanted(route) || n < min_requests) continue;
      auto b = base.routes.find(route);
      AlertInputs::RouteFigures zero;
      const AlertInputs::RouteFigures& bf = b == base.routes.end() ? zero : b->second;
      if (r.kind == "error_rate") {
        out[{{"route", route}}] = delta(fig.errors, bf.errors) / n;
      } else {
        std::array<double, 17> d{};
        for (size_t i = 0; i < d.size(); ++i) d[i] = delta(fig.buckets[i], bf.buckets[i]);
        out[{{"route", route}}] = quantile(r.quantile, d);
      }
    }
  } else if (r.kind == "guardrail_deny_rate") {
    for (const auto& [k, denied] : now.denies) {
      const auto& [route, guardrail] = k;
      double n = requests(route);
      if (!wanted(route) || n < min_requests) continue;
      auto b = base.denies.find(k);
      out[{{"route", route}, {"guardrail", guardrail}}] = delta(denied, b == base.denies.end() ? 0 : b->second) / n;
    }
  }
  return out;
}

std::vector<Notification> AlertEvaluator::evaluate(const AlertInputs& now, int64_t now_ms, int64_t wall_ms) {
  std::vector<Notification> out;
  for (const auto& rule : rules_) {
    std::set<Labels> holding;
    for (const auto& [watched, value] : values(rule, now, now_ms)) {
      if (!(value > rule.threshold)) continue;
      holding.insert(watched);
      Labels labels = watched;
      labels["alertname"] = rule.name;
      labels["severity"] = rule.severity;
      auto [it, fresh] = states_.try_emplace({rule.name, watched});
      AlertState& s = it->second;
      if (fresh) s = {rule.name, labels, false, value, rule.threshold, now_ms, 0, wall_ms, 0};
      s.value = value;
      bool repeat = s.firing && ((repeat_ms_ > 0 && now_ms - s.notified_ms >= repeat_ms_) ||
                                 (s.resend_at_ms > 0 && now_ms >= s.resend_at_ms));
      if (!s.firing && now_ms - s.active_since_ms >= int64_t(rule.for_s) * 1000) {
        s.firing = true;
        s.fired_ms = wall_ms;
        lost_resolved_.erase(fingerprintOf(labels));  // this firing says more than an old lost resolve
      } else if (!repeat) {
        continue;
      }
      s.notified_ms = now_ms;
      s.resend_at_ms = 0;
      // The repeat refreshes it before then; without repeats nothing would, so it never ends.
      int64_t ends_ms = repeat_ms_ > 0 ? wall_ms + repeat_ms_ + expiry_margin_ms_ : 0;
      out.push_back({rule.name, false, labels, summaryOf(rule, watched, value), value, rule.threshold, s.fired_ms,
                     ends_ms, fingerprintOf(labels)});
    }
    // What no longer holds: a firing alert is resolved (once); a pending one just goes.
    for (auto it = states_.lower_bound({rule.name, {}}); it != states_.end() && it->first.first == rule.name;) {
      if (holding.count(it->first.second)) {
        ++it;
        continue;
      }
      const AlertState& s = it->second;
      if (s.firing) {
        out.push_back({rule.name, true, s.labels, summaryOf(rule, it->first.second, s.value), s.value, s.threshold,
                       s.fired_ms, wall_ms, fingerprintOf(s.labels)});
        remember(out.back());
      }
      it = states_.erase(it);
    }
  }
  // Lost resolved notifications, unless their alert fires again (its firing notification,
  // sent since, says more than the resolve would).
  for (auto it = lost_resolved_.begin(); it != lost_resolved_.end();) {
    if (now_ms < it->second.first) {
      ++it;
      continue;
    }
    if (!firing(it->first)) out.push_back(it->second.second);
    it = lost_resolved_.erase(it);
  }
  // Per window, snapshots at least a kMaxSnapshots-th of it apart: a week's window evaluated
  // every 100 ms keeps a few hundred, not millions, and its baseline is at most that much older
  // than asked; a 2-second window beside it keeps its own, finer ones.
  for (auto& [window_s, history] : histories_) {
    int64_t window_ms = int64_t(window_s) * 1000;
    if (!history.empty() && now_ms - history.back().first < window_ms / int64_t(kMaxSnapshots)) continue;
    history.emplace_back(now_ms, now);
    while (history.size() >= 2 && history[1].first <= now_ms - window_ms) history.pop_front();
  }
  return out;
}

void AlertEvaluator::remember(const Notification& resolved) {
  lost_resolved_.erase(resolved.fingerprint);  // a newer resolve supersedes a lost one
  // The latest resolve goes to the back, so the oldest forgotten first is the longest ago resolved.
  if (!recent_resolved_.insert_or_assign(resolved.fingerprint, resolved).second) {
    recent_resolved_order_.erase(
        std::find(recent_resolved_order_.begin(), recent_resolved_order_.end(), resolved.fingerprint));
  }
  recent_resolved_order_.push_back(resolved.fingerprint);
  while (recent_resolved_order_.size() > kMaxRecentResolved) {
    recent_resolved_.erase(recent_resolved_order_.front());
    recent_resolved_order_.pop_front();
  }
}

bool AlertEvaluator::firing(const std::string& fingerprint) const {
  for (const auto& [key, s] : states_) {
    if (s.firing && fingerprintOf(s.labels) == fingerprint) return true;
  }
  return false;
}

void AlertEvaluator::undelivered(const std::string& fingerprint, bool resolved, int64_t now_ms) {
  if (!resolved) {
    for (auto& [key, s] : states_) {
      if (s.firing && fingerprintOf(s.labels) == fingerprint) s.resend_at_ms = now_ms + kResendLostMs;
    }
    return;
  }
  auto it = recent_resolved_.find(fingerprint);
  if (it != recent_resolved_.end()) lost_resolved_.insert_or_assign(fingerprint, std::make_pair(now_ms + kResendLostMs, it->second));
}

std::vector<AlertState> AlertEvaluator::active() const {
  std::vector<AlertState> out;
  for (const auto& [key, s] : states_) out.push_back(s);
  return out;
}

}  // namespace outrigger::alerts
