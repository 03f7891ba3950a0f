// The config's alert rules as a Prometheus alerting rules file (`outrigger alerts rules`), for
// teams whose Prometheus scrapes every sidecar: the same conditions over the same series the
// sidecar evaluates itself (alert_evaluator.h), summed across the fleet's sidecars.
#pragma once

#include <string>

#include "config/config.h"

namespace outrigger::alerts {

// The PromQL expression of one rule.
std::string promqlOf(const config::AlertRuleSettings& rule);

// A rules file (YAML) with one group, "outrigger", holding every rule.
std::string prometheusRulesFile(const config::AlertSettings& alerts);

}  // namespace outrigger::alerts
