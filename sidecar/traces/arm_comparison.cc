#include "traces/arm_comparison.h"

#include <algorithm>
#include <map>

#include "traces/query_parts.h"

namespace outrigger::traces {

using namespace query_parts;

namespace {

struct Sample {
  bool error = false, refusal = false;
  int64_t latency_us = 0;
  double cost = 0;
  bool scored = false;
  double score = 0;
  ArmAnswer content;
};

}  // namespace

bool compareArms(sqlite3* db, const TraceFilter& filter, const QueryLimits& limits, std::vector<ArmRow>* out,
                 std::string* error, const GradeArms& grade, std::vector<std::string>* notes) {
  if (!validFilter(filter, error)) return false;
  QueryDeadline deadline(db, limits);
  Where w = whereOf(filter);
  // The arm is the request's first provider attempt's target, read from the rows the filter keeps
  // (the attempts view would number every attempt in the store first).
  std::string sql =
      "SELECT * FROM (SELECT (SELECT s.value -> 'attrs' ->> '$.\"outrigger.target\"' FROM json_each(r.spans) s"
      " WHERE s.value ->> 'stage' = 'provider' AND s.value -> 'attrs' ->> '$.\"outrigger.target\"' IS NOT NULL"
      " ORDER BY CAST(s.key AS INTEGER) LIMIT 1) AS target, r.status, r.finish_reason, r.duration_us, r.cost_usd,"
      " (SELECT avg(score) FROM feedback fb WHERE " + std::string(kFeedbackOfRequest) + ")," +
      std::string(grade ? " coalesce(r.prompt, ''), coalesce(r.answer, '')" : " '', ''") +
      " FROM requests r" + w.sql + (w.sql.empty() ? " WHERE" : " AND") + " r.cache_hit = 0) WHERE target IS NOT NULL";
  Statement s(db, sql);
  if (!s.ok()) {
    *error = deadline.error("arms");
    return false;
  }
  w.bind(s);
  std::map<std::string, std::vector<Sample>> arms;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    Sample x;
    x.error = s.columnText(1) != "OK";
    x.refusal = isRefusal(s.columnText(2));
    x.latency_us = s.columnInt(3);
    x.cost = s.columnReal(4);
    x.scored = !s.columnIsNull(5);
    if (x.scored) x.score = s.columnReal(5);
    x.content.prompt_text = promptConversation(s.columnText(6));
    x.content.answer = s.columnText(7);
    arms[s.columnText(0)].push_back(std::move(x));
  }
  if (rc != SQLITE_DONE) {
    *error = deadline.error("arms");
    return false;
  }
  if (grade) {
    std::vector<std::vector<ArmAnswer*>> per_arm;
    for (auto& [arm, samples] : arms) {
      per_arm.emplace_back();
      for (Sample& x : samples) {
        if (!x.error) per_arm.back().push_back(&x.content);
      }
    }
    std::vector<std::string> said = grade(per_arm);
    if (notes) notes->insert(notes->end(), said.begin(), said.end());
  }
  struct Columns {
    uint64_t errors = 0, refusals = 0;
    std::vector<double> cost, latency_ms, score, judge;
    std::vector<int64_t> latency_us;
  };
  std::map<std::string, Columns> columns;
  // The bootstraps below draw thousands of resamples per column: the deadline holds for them too.
  auto ranTooLong = [&] {
    if (!deadline.expired()) return false;
    *error = deadline.error("arms");
    return true;
  };
  for (auto& [arm, samples] : arms) {
    if (ranTooLong()) return false;
    Columns& c = columns[arm];
    for (const Sample& x : samples) {
      c.errors += x.error;
      c.refusals += x.refusal;
      c.cost.push_back(x.cost);
      c.latency_ms.push_back(double(x.latency_us) / 1000.0);
      c.latency_us.push_back(x.latency_us);
      if (x.scored) c.score.push_back(x.score);
      if (x.content.judge) c.judge.push_back(*x.content.judge);
    }
    std::sort(c.latency_us.begin(), c.latency_us.end());
    ArmRow row;
    row.arm = arm;
    row.requests = samples.size();
    row.error_rate = {double(c.errors) / double(row.requests), wilson(c.errors, row.requests), row.requests};
    row.refusal_rate = {double(c.refusals) / double(row.requests), wilson(c.refusals, row.requests), row.requests};
    row.cost_usd = bootstrapMean(c.cost);
    row.latency_ms = bootstrapMean(c.latency_ms);
    row.feedback = bootstrapMean(c.score);
    row.judge = bootstrapMean(c.judge);
    row.p50_ms = nearestRank(c.latency_us, 0.50);
    row.p95_ms = nearestRank(c.latency_us, 0.95);
    out->push_back(std::move(row));
  }
  // The busiest arm is the baseline (ties by name, so the answer is stable).
  std::stable_sort(out->begin(), out->end(), [](const ArmRow& a, const ArmRow& b) { return a.requests > b.requests; });
  if (out->empty()) return true;
  ArmRow& base = out->front();
  base.baseline = true;
  const Columns& b = columns[base.arm];
  for (size_t i = 1; i < out->size(); ++i) {
    if (ranTooLong()) return false;
    ArmRow& row = (*out)[i];
    const Columns& c = columns[row.arm];
    row.error_rate_diff = proportionDifference(c.errors, row.requests, b.errors, base.requests);
    row.refusal_rate_diff = proportionDifference(c.refusals, row.requests, b.refusals, base.requests);
    row.cost_diff = bootstrapDifference(c.cost, b.cost);
    row.latency_diff = bootstrapDifference(c.latency_ms, b.latency_ms);
    row.feedback_diff = bootstrapDifference(c.score, b.score);
    row.judge_diff = bootstrapDifference(c.judge, b.judge);
  }
  return true;
}

}  // namespace outrigger::traces
