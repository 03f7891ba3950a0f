#include "traces/arm_comparison.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "traces/query_parts.h"

namespace outrigger::traces {

using namespace query_parts;

namespace {

constexpr double kZ = 1.959963984540054;  // the normal quantile for 95%
constexpr int kResamples = 2000;

struct Sample {
  bool error = false, refusal = false;
  int64_t latency_us = 0;
  double cost = 0;
  bool scored = false;
  double score = 0;
};

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / double(v.size());
}

// The 2.5th and 97.5th percentiles of sorted resampled statistics.
Interval percentiles(std::vector<double>& stats) {
  if (stats.empty()) return {};
  std::sort(stats.begin(), stats.end());
  auto at = [&](double p) { return stats[std::min(stats.size() - 1, size_t(p * double(stats.size())))]; };
  return {at(0.025), at(0.975)};
}

double resampledMean(const std::vector<double>& v, std::mt19937_64& rng) {
  std::uniform_int_distribution<size_t> pick(0, v.size() - 1);
  double s = 0;
  for (size_t i = 0; i < v.size(); ++i) s += v[pick(rng)];
  return s / double(v.size());
}

// A fixed seed: the same store gives the same intervals every time it is asked.
Estimate bootstrapMean(const std::vector<double>& v) {
  Estimate e{mean(v), {}, v.size()};
  if (v.size() < 2) return e;
  std::mt19937_64 rng(1);
  std::vector<double> stats;
  for (int i = 0; i < kResamples; ++i) stats.push_back(resampledMean(v, rng));
  e.ci = percentiles(stats);
  return e;
}

Difference bootstrapDifference(const std::vector<double>& arm, const std::vector<double>& base) {
  Difference d{mean(arm) - mean(base), {}, false};
  if (arm.size() < 2 || base.size() < 2) return d;
  std::mt19937_64 rng(2);
  std::vector<double> stats;
  for (int i = 0; i < kResamples; ++i) stats.push_back(resampledMean(arm, rng) - resampledMean(base, rng));
  d.ci = percentiles(stats);
  d.significant = d.ci.low > 0 || d.ci.high < 0;
  return d;
}

Difference proportionDifference(uint64_t s1, uint64_t n1, uint64_t s0, uint64_t n0) {
  Difference d;
  if (n1 == 0 || n0 == 0) return d;
  d.value = double(s1) / double(n1) - double(s0) / double(n0);
  d.ci = newcombe(s1, n1, s0, n0);
  d.significant = d.ci.low > 0 || d.ci.high < 0;
  return d;
}

}  // namespace

Interval wilson(uint64_t successes, uint64_t n) {
  if (n == 0) return {0, 1};
  double p = double(successes) / double(n), z2 = kZ * kZ, nn = double(n);
  double center = (p + z2 / (2 * nn)) / (1 + z2 / nn);
  double half = kZ * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn)) / (1 + z2 / nn);
  return {std::max(0.0, center - half), std::min(1.0, center + half)};
}

Interval newcombe(uint64_t s1, uint64_t n1, uint64_t s0, uint64_t n0) {
  double p1 = double(s1) / double(n1), p0 = double(s0) / double(n0);
  Interval w1 = wilson(s1, n1), w0 = wilson(s0, n0);
  double d = p1 - p0;
  return {d - std::sqrt((p1 - w1.low) * (p1 - w1.low) + (w0.high - p0) * (w0.high - p0)),
          d + std::sqrt((w1.high - p1) * (w1.high - p1) + (p0 - w0.low) * (p0 - w0.low))};
}

bool compareArms(sqlite3* db, const TraceFilter& filter, const QueryLimits& limits, std::vector<ArmRow>* out,
                 std::string* error) {
  if (!validFilter(filter, error)) return false;
  QueryDeadline deadline(db, limits);
  Where w = whereOf(filter);
  std::string sql =
      "WITH first AS (SELECT request, target FROM (SELECT request, target, row_number() OVER"
      " (PARTITION BY request ORDER BY seq) AS n FROM attempts) WHERE n = 1)"
      " SELECT f.target, r.status, r.finish_reason, r.duration_us, r.cost_usd,"
      " (SELECT avg(score) FROM feedback fb WHERE fb.trace_id = r.trace_id)"
      " FROM requests r JOIN first f ON f.request = r.id" + w.sql + (w.sql.empty() ? " WHERE" : " AND") +
      " r.cache_hit = 0";
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
    arms[s.columnText(0)].push_back(x);
  }
  if (rc != SQLITE_DONE) {
    *error = deadline.error("arms");
    return false;
  }
  struct Columns {
    uint64_t errors = 0, refusals = 0;
    std::vector<double> cost, latency_ms, score;
    std::vector<int64_t> latency_us;
  };
  std::map<std::string, Columns> columns;
  for (auto& [arm, samples] : arms) {
    Columns& c = columns[arm];
    for (const Sample& x : samples) {
      c.errors += x.error;
      c.refusals += x.refusal;
      c.cost.push_back(x.cost);
      c.latency_ms.push_back(double(x.latency_us) / 1000.0);
      c.latency_us.push_back(x.latency_us);
      if (x.scored) c.score.push_back(x.score);
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
    ArmRow& row = (*out)[i];
    const Columns& c = columns[row.arm];
    row.error_rate_diff = proportionDifference(c.errors, row.requests, b.errors, base.requests);
    row.refusal_rate_diff = proportionDifference(c.refusals, row.requests, b.refusals, base.requests);
    row.cost_diff = bootstrapDifference(c.cost, b.cost);
    row.latency_diff = bootstrapDifference(c.latency_ms, b.latency_ms);
    row.feedback_diff = bootstrapDifference(c.score, b.score);
  }
  return true;
}

}  // namespace outrigger::traces
