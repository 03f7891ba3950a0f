#include "traces/drift_report.h"

#include "traces/drift_population.h"
#include "traces/model_events.h"

namespace outrigger::traces {

bool driftReportFromStore(sqlite3* db, const DriftQuery& q, const QueryLimits& limits, DriftReport* out,
                          std::string* error) {
  bool with_answers = q.read_content || static_cast<bool>(q.embed);
  DriftPopulation stored_baseline, current;
  if (!q.eval_baseline && !loadDriftWindow(db, q.baseline, limits, with_answers, &stored_baseline, error)) return false;
  if (!loadDriftWindow(db, q.current, limits, with_answers, &current, error)) return false;
  std::vector<std::string> notes;
  if (q.annotate) notes = q.annotate(q.eval_baseline ? nullptr : &stored_baseline, &current);
  const DriftPopulation& baseline = q.eval_baseline ? *q.eval_baseline : stored_baseline;
  *out = compareWindows(baseline, current, q.thresholds, q.embed);
  out->notes.insert(out->notes.begin(), notes.begin(), notes.end());
  for (const auto& [name, pop] : {std::pair<const char*, const DriftPopulation*>{"baseline", &stored_baseline}, {"current", &current}}) {
    if (pop->sampled_one_in > 1) {
      out->notes.push_back(std::string("the ") + name + " window was read one request in " +
                           std::to_string(pop->sampled_one_in) + " (more than " +
                           std::to_string(kMaxDriftWindowRequests) + " requests)");
    }
  }
  out->baseline_source = q.eval_baseline ? q.eval_source : "store";
  out->baseline_since_ns = q.baseline.since_unix_ns;
  out->baseline_until_ns = q.baseline.until_unix_ns;
  out->since_ns = q.current.since_unix_ns;
  out->until_ns = q.current.until_unix_ns;
  int64_t look_back = q.eval_baseline ? q.current.since_unix_ns : q.baseline.since_unix_ns;
  return loadModelEvents(db, q.current, look_back, limits, &out->events, error);
}

}  // namespace outrigger::traces
