// A notification as the JSON body Alertmanager's webhook receiver sends (version 4), so a
// receiver written for Alertmanager (a chat bridge, an incident tool) takes the sidecar's as is.
#pragma once

#include <string>

#include "alerts/alert_evaluator.h"

namespace outrigger::alerts {

// `external_url`: where the alert can be looked at (the admin server), or "".
std::string webhookPayload(const Notification& n, const std::string& external_url);

// RFC 3339 with milliseconds, UTC.
std::string rfc3339(int64_t unix_ms);

}  // namespace outrigger::alerts
