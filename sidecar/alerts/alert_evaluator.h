// Alert rules evaluated in the sidecar, over the same figures /metrics shows: evaluations keep
// snapshots of the cumulative counters (a bounded number per rule window), compare the figures
// now with the snapshot one window earlier (or with zero, the counters' value at the daemon's
// start, when the daemon is younger than the window), and moves each alert through inactive -> pending (the condition holds, for less than
// `for_s`) -> firing -> resolved. Only the transitions, and a firing alert's periodic repeat,
// become notifications, so a receiver hears of an alert once and of its end once.
//
// The same rules as PromQL are in prometheus_rules.h; the two must mean the same thing.
// Thread: one thread (the daemon's main loop).
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "config/config.h"

namespace outrigger::alerts {

// The cumulative figures one evaluation reads (the budget ratios are levels, not counters).
struct AlertInputs {
  struct RouteFigures {
    double requests = 0;
    double errors = 0;  // ended with a code other than OK and CANCELLED
    std::array<double, 17> buckets{};  // request durations, per bucket (not cumulative); the last is +Inf
  };
  std::map<std::tuple<std::string, std::string, std::string>, double> cost;  // route, tenant, model -> USD
  std::map<std::string, RouteFigures> routes;
  std::map<std::pair<std::string, std::string>, double> denies;       // route, guardrail
  std::map<std::pair<std::string, std::string>, double> budget_used;  // budget instance, key -> share
};

using Labels = std::map<std::string, std::string>;

struct Notification {
  std::string rule;
  bool resolved = false;
  Labels labels;       // alertname, severity and the labels of what the rule watches
  std::string summary;
  double value = 0;
  double threshold = 0;
  int64_t starts_ms = 0;
  // Resolved: when it ended. Firing: when a receiver should take it as ended unless notified
  // again (Alertmanager's endsAt), so one that missed the resolved notification (the sidecar
  // stopped, the webhook was down) does not show it for good: the next repeat plus four
  // evaluations, as Prometheus gives four evaluation intervals; 0 without repeats.
  int64_t ends_ms = 0;
  std::string fingerprint;  // 16 hex digits of the labels' hash: the receiver's de-duplication key
};

struct AlertState {
  std::string rule;
  Labels labels;
  bool firing = false;  // else pending
  double value = 0;
  double threshold = 0;
  int64_t active_since_ms = 0;  // the steady clock's, as notified_ms: for_s and repeats
  int64_t notified_ms = 0;
  int64_t active_since_wall_ms = 0;  // Unix ms, as fired_ms: what receivers and /alerts are told
  int64_t fired_ms = 0;
  int64_t resend_at_ms = 0;  // the webhook lost its firing notification: notify again then (steady ms)
};

class AlertEvaluator {
 public:
  static constexpr size_t kMaxSnapshots = 256;  // about as many kept per rule window, whatever the rate

  // `bucket_bounds`: the finite upper bounds of the duration buckets AlertInputs counts;
  // `evaluate_every_ms`: how often evaluate() runs, and `delivery_ms` the longest the webhook
  // takes to deliver or give up on a notification, for a firing notification's ends_ms: the
  // repeat must reach the receiver before it, even when it is made one evaluation late, lost
  // after every attempt and sent again, or the receiver resolves the alert in between.
  AlertEvaluator(std::vector<config::AlertRuleSettings> rules, uint32_t repeat_interval_s,
                 std::array<double, 16> bucket_bounds, uint32_t evaluate_every_ms = 0, int64_t delivery_ms = 0);

  // Evaluates every rule and returns what to notify. Windows, for_s and repeats are timed on
  // `now_ms`, a steady clock's ms: a step of the system clock (NTP, a VM resumed) must not fire
  // alerts on old figures or hold them back. `wall_ms` (Unix ms) only dates the notifications.
  std::vector<Notification> evaluate(const AlertInputs& now, int64_t now_ms, int64_t wall_ms);
  // The same with one clock for both (tests).
  std::vector<Notification> evaluate(const AlertInputs& now, int64_t now_ms) { return evaluate(now, now_ms, now_ms); }

  // The webhook lost a notification (its queue was full, or every attempt failed). It is sent
  // again at the first evaluation kResendLostMs after `now_ms`, if it still holds: a firing
  // alert still firing, a resolved one not firing again. Without this a lost notification
  // waits for the next repeat, or with `repeat_interval_s = 0` is never heard of.
  void undelivered(const std::string& fingerprint, bool resolved, int64_t now_ms);
  static constexpr int64_t kResendLostMs = 60'000;

  // Alerts pending or firing, by rule then labels.
  std::vector<AlertState> active() const;
  const std::vector<config::AlertRuleSettings>& rules() const { return rules_; }
  // Snapshots kept, over every window.
  size_t snapshots() const {
    size_t n = 0;
    for (const auto& [window, history] : histories_) n += history.size();
    return n;
  }

 private:
  // One rule's values by what it watches (labels beyond alertname and severity).
  std::map<Labels, double> values(const config::AlertRuleSettings& rule, const AlertInputs& now, int64_t now_ms) const;
  const AlertInputs& baseline(uint32_t window_s, int64_t now_ms) const;
  double quantile(double q, const std::array<double, 17>& buckets) const;
  void remember(const Notification& resolved);
  bool firing(const std::string& fingerprint) const;

  std::vector<config::AlertRuleSettings> rules_;
  int64_t repeat_ms_;
  int64_t expiry_margin_ms_;
  std::array<double, 16> bounds_;
  // Per rule window (seconds): the evaluations' figures, oldest first.
  std::map<uint32_t, std::deque<std::pair<int64_t, AlertInputs>>> histories_;
  AlertInputs zero_;
  std::map<std::pair<std::string, Labels>, AlertState> states_;  // rule, labels
  // Resolved notifications by fingerprint, the newest kMaxRecentResolved, so a lost one can be
  // sent again; and those lost, with when to send them again.
  static constexpr size_t kMaxRecentResolved = 1024;
  std::map<std::string, Notification> recent_resolved_;
  std::deque<std::string> recent_resolved_order_;
  std::map<std::string, std::pair<int64_t, Notification>> lost_resolved_;
};

std::string fingerprintOf(const Labels& labels);

}  // namespace outrigger::alerts
