// A drift report as JSON (the CLI's --json, the admin server's /traces/drift) and as Prometheus
// gauges (/traces/drift/metrics, `outrigger drift report --prometheus`), which the alert rules in
// deploy/prometheus/drift-rules.yml read. Statuses are numbers there: -1 insufficient, 0 stable,
// 1 moderate, 2 drifted.
#pragma once

#include <string>

#include "traces/drift.h"

namespace outrigger::traces {

std::string driftJson(const DriftReport& report);
std::string driftPrometheus(const DriftReport& report);
int driftStatusLevel(DriftStatus s);

}  // namespace outrigger::traces
