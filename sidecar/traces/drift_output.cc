#include "traces/drift_output.h"

#include <cstdio>
#include <algorithm>
#include <map>
#include <set>

#include "common/prometheus_label.h"
#include "traces/json_writer.h"

namespace outrigger::traces {
namespace {

void signalJson(JsonWriter& w, const DriftSignal& s) {
  w.StartObject();
  str(w, "signal", s.name);
  str(w, "measure", s.measure);
  str(w, "status", driftStatusName(s.status));
  if (s.measure != "cosine_distance") {
    w.Key("baseline"), w.Double(s.baseline);
    w.Key("current"), w.Double(s.current);
  }
  w.Key("value"), w.Double(s.value);
  if (s.measure == "rate" || s.measure == "mean") {
    w.Key("ci95"), w.StartArray(), w.Double(s.ci.low), w.Double(s.ci.high), w.EndArray();
  }
  if (s.measure == "cosine_distance") w.Key("noise"), w.Double(s.noise);
  w.Key("baseline_n"), w.Uint64(s.baseline_n);
  w.Key("current_n"), w.Uint64(s.current_n);
  w.EndObject();
}

// Prompt ids and versions come from callers: their label values are cut to this many bytes.
constexpr size_t kMaxLabelBytes = 128;
// Groups beyond this many (the busiest kept) are left out of the gauges and counted, so callers
// naming ever new prompt versions cannot grow a scrape without bound.
constexpr size_t kMaxExposedGroups = 100;

std::string label(std::string_view v) { return escapePrometheusLabel(labelPrefix(v, kMaxLabelBytes)); }

std::string number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// The families in order, each with its HELP and TYPE once.
class Exposition {
 public:
  void family(const std::string& name, const std::string& help) {
    text_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " gauge\n";
  }
  void sample(const std::string& name, const std::map<std::string, std::string>& labels, double value) {
    text_ += name;
    bool first = true;
    for (const auto& [k, v] : labels) {
      text_ += (first ? "{" : ",") + k + "=\"" + label(v) + "\"";
      first = false;
    }
    text_ += (labels.empty() ? " " : "} ") + number(value) + "\n";
  }
  std::string take() { return std::move(text_); }

 private:
  std::string text_;
};

}  // namespace

int driftStatusLevel(DriftStatus s) {
  switch (s) {
    case DriftStatus::kInsufficient: return -1;
    case DriftStatus::kStable: return 0;
    case DriftStatus::kModerate: return 1;
    case DriftStatus::kDrifted: return 2;
  }
  return -1;
}

std::string driftJson(const DriftReport& r) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("drifted"), w.Bool(r.drifted());
  w.Key("baseline");
  w.StartObject();
  str(w, "source", r.baseline_source);
  if (r.baseline_source == "store") {
    w.Key("since_unix_ns"), w.Int64(r.baseline_since_ns);
    w.Key("until_unix_ns"), w.Int64(r.baseline_until_ns);
  }
  w.EndObject();
  w.Key("window");
  w.StartObject();
  w.Key("since_unix_ns"), w.Int64(r.since_ns);
  w.Key("until_unix_ns"), w.Int64(r.until_ns);
  w.EndObject();
  w.Key("groups");
  w.StartArray();
  for (const DriftGroup& g : r.groups) {
    w.StartObject();
    str(w, "route", g.route);
    str(w, "prompt", g.prompt);
    str(w, "status", driftStatusName(g.status));
    str(w, "baseline_scope", g.baseline_scope);
    w.Key("baseline_requests"), w.Uint64(g.baseline_requests);
    w.Key("current_requests"), w.Uint64(g.current_requests);
    w.Key("signals");
    w.StartArray();
    for (const DriftSignal& s : g.signals) signalJson(w, s);
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.Key("events");
  w.StartArray();
  for (const ModelEvent& e : r.events) {
    w.StartObject();
    str(w, "route", e.route);
    str(w, "target", e.target);
    str(w, "kind", e.kind);
    str(w, "from", e.from);
    str(w, "to", e.to);
    w.Key("at_unix_ns"), w.Int64(e.at_unix_ns);
    str(w, "trace_id", e.trace_id);
    w.EndObject();
  }
  w.EndArray();
  w.Key("notes");
  w.StartArray();
  for (const std::string& n : r.notes) w.String(n.c_str(), static_cast<rapidjson::SizeType>(n.size()));
  w.EndArray();
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

std::string driftPrometheus(const DriftReport& r) {
  // The busiest groups, at most kMaxExposedGroups, and never two whose cut labels are the same.
  std::vector<const DriftGroup*> groups;
  for (const DriftGroup& g : r.groups) groups.push_back(&g);
  std::stable_sort(groups.begin(), groups.end(),
                   [](const DriftGroup* a, const DriftGroup* b) { return a->current_requests > b->current_requests; });
  std::vector<const DriftGroup*> exposed;
  std::set<std::pair<std::string, std::string>> seen;
  for (const DriftGroup* g : groups) {
    if (exposed.size() < kMaxExposedGroups && seen.insert({label(g->route), label(g->prompt)}).second) exposed.push_back(g);
  }
  Exposition x;
  x.family("outrigger_drift_status",
           "The worst drift signal of a route and prompt version: -1 insufficient, 0 stable, 1 moderate, 2 drifted");
  for (const DriftGroup* gp : exposed) {
    const DriftGroup& g = *gp;
    x.sample("outrigger_drift_status", {{"route", g.route}, {"prompt", g.prompt}}, driftStatusLevel(g.status));
  }
  x.family("outrigger_drift_signal_status", "One drift signal's status: -1 insufficient, 0 stable, 1 moderate, 2 drifted");
  for (const DriftGroup* gp : exposed) {
    const DriftGroup& g = *gp;
    for (const DriftSignal& s : g.signals) {
      x.sample("outrigger_drift_signal_status", {{"route", g.route}, {"prompt", g.prompt}, {"signal", s.name}},
               driftStatusLevel(s.status));
    }
  }
  x.family("outrigger_drift_value",
           "A drift signal's measure: the population stability index, the change of a rate or mean, or the cosine "
           "distance of answer centroids");
  for (const DriftGroup* gp : exposed) {
    const DriftGroup& g = *gp;
    for (const DriftSignal& s : g.signals) {
      if (s.status == DriftStatus::kInsufficient) continue;
      x.sample("outrigger_drift_value",
               {{"route", g.route}, {"prompt", g.prompt}, {"signal", s.name}, {"measure", s.measure}}, s.value);
    }
  }
  x.family("outrigger_drift_requests", "The requests a drift report compared, per window");
  for (const DriftGroup* gp : exposed) {
    const DriftGroup& g = *gp;
    x.sample("outrigger_drift_requests", {{"route", g.route}, {"prompt", g.prompt}, {"window", "baseline"}},
             double(g.baseline_requests));
    x.sample("outrigger_drift_requests", {{"route", g.route}, {"prompt", g.prompt}, {"window", "current"}},
             double(g.current_requests));
  }
  x.family("outrigger_drift_groups_omitted", "Route and prompt version groups left out of these gauges (beyond " +
                                                 std::to_string(kMaxExposedGroups) + " or with the same cut labels)");
  x.sample("outrigger_drift_groups_omitted", {}, double(r.groups.size() - exposed.size()));
  x.family("outrigger_drift_model_changes",
           "Changes of the model or system fingerprint an upstream reported for a target, in the current window");
  std::map<std::map<std::string, std::string>, int> changes;
  for (const ModelEvent& e : r.events) ++changes[{{"route", e.route}, {"target", e.target}, {"kind", e.kind}}];
  for (const auto& [labels, n] : changes) x.sample("outrigger_drift_model_changes", labels, n);
  return x.take();
}

}  // namespace outrigger::traces
