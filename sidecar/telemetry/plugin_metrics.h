// What plugin instances report for /metrics through the plugin type's `metrics` slot (ABI 1.2):
// budgets remaining, entries held, and whatever else only the plugin knows.
//
// One collection asks every distinct live instance once, on the main thread, and checks each
// sample before it can reach the exposition: names and label names must be Prometheus-safe, a
// name keeps its first type, and an instance gets at most kMaxSamplesPerInstance samples per
// collection. What breaks the rules is dropped and counted, so a buggy or hostile plugin cannot
// corrupt the scrape or grow it without bound.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <outrigger/plugin.h>

#include "plugin/instance.h"

namespace outrigger::telemetry {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;  // instance first

struct MetricFamily {
  outrigger_metric_type type = OUTRIGGER_METRIC_GAUGE;
  std::string help;
  std::map<MetricLabels, double> samples;  // same labels from several instances: summed
};

class PluginMetrics {
 public:
  static constexpr size_t kMaxSamplesPerInstance = 1000;
  static constexpr size_t kMaxNameBytes = 64;
  // The daemon's count of what this drops, written after the plugins' families.
  static constexpr std::string_view kSamplesDroppedMetric = "outrigger_plugin_metric_samples_dropped";

  // [main] Asks each instance (duplicates are asked once) for its figures.
  void collect(const std::vector<std::shared_ptr<plugin::PluginInstance>>& instances);

  // Families by their published name ("outrigger_budget_remaining").
  const std::map<std::string, MetricFamily>& families() const { return families_; }
  uint64_t dropped() const { return dropped_; }

  // The families as Prometheus text, HELP and TYPE included, but for names `core` (the daemon's
  // own exposition) already declares: those are dropped and counted, never published twice.
  std::string render(std::string_view core);

 private:
  struct Sink;
  static void onSample(void* ctx, outrigger_metric_type type, outrigger_str name, outrigger_str help,
                       const outrigger_attribute* labels, size_t label_count, double value) noexcept;

  std::map<std::string, MetricFamily> families_;
  uint64_t dropped_ = 0;
};

}  // namespace outrigger::telemetry
