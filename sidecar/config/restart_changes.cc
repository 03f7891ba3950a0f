#include "config/restart_changes.h"

#include <algorithm>

namespace outrigger::config {
namespace {

// The sections' settings without the file:line each keeps for error messages, and with the
// lists whose order means nothing (virtual keys, alert rules: each is unique by its key or
// name) sorted, so moving an entry is no change. Peer rules keep their order: the first match
// decides.
ServerSettings withoutLines(ServerSettings s) {
  for (PeerRule& p : s.peers) p.where.clear();
  return s;
}

HttpSettings withoutLines(HttpSettings s) {
  s.where.clear();
  std::sort(s.virtual_keys.begin(), s.virtual_keys.end(),
            [](const VirtualKey& a, const VirtualKey& b) { return a.key < b.key; });
  return s;
}

AdminSettings withoutLines(AdminSettings s) {
  s.where.clear();
  return s;
}

AlertSettings withoutLines(AlertSettings s) {
  s.where.clear();
  for (AlertRuleSettings& r : s.rules) r.where.clear();
  std::sort(s.rules.begin(), s.rules.end(),
            [](const AlertRuleSettings& a, const AlertRuleSettings& b) { return a.name < b.name; });
  return s;
}

}  // namespace

void ServerOverrides::applyTo(ServerSettings* server) const {
  if (!socket_path.empty()) server->socket_path = socket_path;
  if (workers) server->workers = *workers;
}

std::vector<std::string> restartOnlyChanges(const Settings& running, const Settings& next) {
  std::vector<std::string> changed;
  if (withoutLines(running.server) != withoutLines(next.server)) changed.push_back("[server]");
  if (withoutLines(running.http) != withoutLines(next.http)) changed.push_back("[http]");
  if (withoutLines(running.admin) != withoutLines(next.admin)) changed.push_back("[admin]");
  if (running.exporter_queue_capacity != next.exporter_queue_capacity ||
      running.exporter_queue_max_bytes != next.exporter_queue_max_bytes ||
      running.exporter_priority != next.exporter_priority) {
    changed.push_back("[exporter]");
  }
  if (running.metrics != next.metrics) changed.push_back("[metrics]");
  if (withoutLines(running.alerts) != withoutLines(next.alerts)) changed.push_back("[alerts]");
  return changed;
}

}  // namespace outrigger::config
