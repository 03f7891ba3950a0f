#include "traces/model_events.h"

#include <map>
#include <utility>

#include "traces/query_parts.h"

namespace outrigger::traces {

using namespace query_parts;

bool loadModelEvents(sqlite3* db, const TraceFilter& filter, int64_t look_back_from_ns, const QueryLimits& limits,
                     std::vector<ModelEvent>* out, std::string* error) {
  if (!validFilter(filter, error)) return false;
  QueryDeadline deadline(db, limits);
  TraceFilter scanned = filter;
  scanned.since_unix_ns = look_back_from_ns;
  Where w = whereOf(scanned);
  std::string sql =
      "SELECT r.start_unix_ns, r.route, r.trace_id, s.value -> 'attrs' ->> '$.\"outrigger.target\"',"
      " s.value -> 'attrs' ->> '$.\"gen_ai.response.model\"',"
      " s.value -> 'attrs' ->> '$.\"openai.response.system_fingerprint\"',"
      " s.value -> 'attrs' ->> '$.\"gen_ai.request.model\"'"
      " FROM requests r, json_each(r.spans) s" + w.sql + (w.sql.empty() ? " WHERE" : " AND") +
      " s.value ->> 'stage' = 'provider' AND s.value -> 'attrs' ->> '$.\"outrigger.target\"' IS NOT NULL"
      " ORDER BY r.start_unix_ns, CAST(s.key AS INTEGER)";
  Statement s(db, sql);
  if (!s.ok()) {
    *error = deadline.error("model events");
    return false;
  }
  w.bind(s);
  // The last value seen per route, target, model asked and kind: a target passing the caller's
  // model through answers each model as itself, which is no change.
  std::map<std::tuple<std::string, std::string, std::string, std::string>, std::string> last;
  auto observe = [&](int64_t at, const std::string& route, const std::string& target, const std::string& asked,
                     const char* kind, const std::string& value, const std::string& trace_id) {
    if (value.empty()) return;  // failed attempts report nothing
    std::string& before = last[{route, target, asked, kind}];
    if (!before.empty() && before != value && at >= filter.since_unix_ns) {
      out->push_back({route, target, kind, before, value, at, trace_id});
    }
    before = value;
  };
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    int64_t at = s.columnInt(0);
    std::string route = s.columnText(1), trace_id = s.columnText(2), target = s.columnText(3);
    std::string asked = s.columnText(6);
    observe(at, route, target, asked, "model", s.columnText(4), trace_id);
    observe(at, route, target, asked, "system_fingerprint", s.columnText(5), trace_id);
  }
  if (rc != SQLITE_DONE) {
    *error = deadline.error("model events");
    return false;
  }
  return true;
}

}  // namespace outrigger::traces
