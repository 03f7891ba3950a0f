#include "traces/trace_query.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iterator>
#include <map>
#include <variant>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "traces/query_parts.h"
#include "traces/trace_store.h"

namespace outrigger::traces {
namespace {

using namespace query_parts;

constexpr char kRequestColumns[] =
    "r.id, r.trace_id, r.span_id, r.parent_span_id, r.start_unix_ns, r.duration_us, r.first_chunk_us, r.route,"
    " r.provider, r.model, r.status, r.origin, r.message, r.finish_reason, r.stream, r.cache_hit, r.tenant, r.user,"
    " r.session, r.request_id, r.prompt_id, r.prompt_version, r.tags, r.input_tokens, r.output_tokens,"
    " r.cached_tokens, r.reasoning_tokens, r.cache_write_tokens, r.cost_usd, r.cost_unpriced, r.verdicts,"
    " r.capture, coalesce(r.prompt, ''), coalesce(r.answer, ''), coalesce(r.answer_tool_calls, ''), r.spans";

std::string member(const rapidjson::Value& o, const char* key) {
  auto it = o.FindMember(key);
  return it != o.MemberEnd() && it->value.IsString() ? std::string(it->value.GetString(), it->value.GetStringLength())
                                                     : std::string();
}

int64_t memberInt(const rapidjson::Value& o, const char* key) {
  auto it = o.FindMember(key);
  return it != o.MemberEnd() && it->value.IsInt64() ? it->value.GetInt64() : 0;
}

// The request's verdicts column (a JSON array of {guardrail, verdict, reason}).
void readVerdicts(const std::string& json, RequestRow* r) {
  rapidjson::Document d;
  if (d.Parse(json.c_str(), json.size()).HasParseError() || !d.IsArray()) return;
  for (const auto& v : d.GetArray()) {
    if (v.IsObject()) r->verdicts.push_back({r->id, member(v, "guardrail"), member(v, "verdict"), member(v, "reason")});
  }
}

// The request's spans column: a compact JSON array (exporter.sqlite's writeSpans) whose
// starts are offsets from the request's and whose parent is the request's own span unless named.
// Each span's attributes stay JSON text.
void readSpans(const std::string& json, const RequestRow& r, std::vector<SpanRow>* out) {
  rapidjson::Document d;
  if (d.Parse(json.c_str(), json.size()).HasParseError() || !d.IsArray()) return;
  for (const auto& v : d.GetArray()) {
    if (!v.IsObject()) continue;
    std::string parent = member(v, "parent");
    SpanRow s{r.id, member(v, "id"), parent.empty() ? r.span_id : parent, member(v, "stage"), member(v, "instance"),
              member(v, "outcome"), r.start_unix_ns + memberInt(v, "at_ns"), memberInt(v, "us"), "{}"};
    if (auto it = v.FindMember("attrs"); it != v.MemberEnd() && it->value.IsObject()) {
      rapidjson::StringBuffer buf;
      rapidjson::Writer<rapidjson::StringBuffer> w(buf);
      it->value.Accept(w);
      s.attributes.assign(buf.GetString(), buf.GetSize());
    }
    out->push_back(std::move(s));
  }
}

RequestRow readRequest(const Statement& s, bool content, std::vector<SpanRow>* spans = nullptr) {
  RequestRow r;
  int c = 0;
  r.id = s.columnInt(c++);
  r.trace_id = s.columnText(c++);
  r.span_id = s.columnText(c++);
  r.parent_span_id = s.columnText(c++);
  r.start_unix_ns = s.columnInt(c++);
  r.duration_us = s.columnInt(c++);
  r.first_chunk_us = s.columnInt(c++);
  r.route = s.columnText(c++);
  r.provider = s.columnText(c++);
  r.model = s.columnText(c++);
  r.status = s.columnText(c++);
  r.origin = s.columnText(c++);
  r.message = s.columnText(c++);
  r.finish_reason = s.columnText(c++);
  r.stream = s.columnInt(c++) != 0;
  r.cache_hit = s.columnInt(c++) != 0;
  r.tenant = s.columnText(c++);
  r.user = s.columnText(c++);
  r.session = s.columnText(c++);
  r.request_id = s.columnText(c++);
  r.prompt_id = s.columnText(c++);
  r.prompt_version = s.columnText(c++);
  r.tags = s.columnText(c++);
  r.input_tokens = s.columnInt(c++);
  r.output_tokens = s.columnInt(c++);
  r.cached_tokens = s.columnInt(c++);
  r.reasoning_tokens = s.columnInt(c++);
  r.cache_write_tokens = s.columnInt(c++);
  r.cost_usd = s.columnReal(c++);
  r.cost_unpriced = s.columnInt(c++) != 0;
  readVerdicts(s.columnText(c++), &r);
  if (content) {
    r.capture = s.columnText(c++);
    r.prompt = s.columnText(c++);
    r.answer = s.columnText(c++);
    r.answer_tool_calls = s.columnText(c++);
  }
  if (spans) readSpans(s.columnText(c + (content ? 0 : 4)), r, spans);
  return r;
}

const char* groupColumn(GroupBy by) {
  switch (by) {
    case GroupBy::kTenant: return "r.tenant";
    case GroupBy::kModel: return "r.model";
    case GroupBy::kRoute: return "r.route";
    case GroupBy::kProvider: return "r.provider";
    case GroupBy::kUser: return "r.user";
    case GroupBy::kPromptVersion: return "CASE WHEN r.prompt_id = '' THEN '' ELSE r.prompt_id || '@' || r.prompt_version END";
    case GroupBy::kNone: break;
  }
  return "''";
}

// Keeps the kMaxStatsGroups best groups of those offered one by one, in a heap whose front is
// the worst kept (`better` orders them); a group that loses its place, or never gets one, goes
// to `other`. Memory stays bounded however many groups the rows hold.
template <typename Group, typename Better, typename Other>
void keepBest(std::vector<Group>* kept, Group group, Better better, Other other) {
  if (kept->size() < kMaxStatsGroups) {
    kept->push_back(std::move(group));
    std::push_heap(kept->begin(), kept->end(), better);
    return;
  }
  if (!better(group, kept->front())) return other(std::move(group));
  std::pop_heap(kept->begin(), kept->end(), better);
  other(std::move(kept->back()));
  kept->back() = std::move(group);
  std::push_heap(kept->begin(), kept->end(), better);
}

// SQLite's deadline stops a step, not the loop around the steps: checked every this many rows.
constexpr uint64_t kRowsPerDeadlineCheck = 4096;

}  // namespace

bool validFilter(const TraceFilter& f, std::string* error) {
  if (!f.verdict.empty() && verdictBit(f.verdict) < 0) {
    *error = "unknown verdict " + f.verdict + " (pass, flag, deny, rewrite, skipped, error)";
    return false;
  }
  if (!f.status.empty() && !query_parts::knownStatus(f.status)) {
    *error = "unknown status " + f.status + " (error, OK, or a code name such as UNAVAILABLE or DEADLINE_EXCEEDED)";
    return false;
  }
  return true;
}

bool parseGroupBy(std::string_view name, GroupBy* out) {
  static const std::pair<std::string_view, GroupBy> kNames[] = {
      {"", GroupBy::kNone},         {"all", GroupBy::kNone},       {"tenant", GroupBy::kTenant},
      {"model", GroupBy::kModel},   {"route", GroupBy::kRoute},    {"provider", GroupBy::kProvider},
      {"user", GroupBy::kUser},     {"prompt_version", GroupBy::kPromptVersion}};
  for (const auto& [n, by] : kNames) {
    if (n == name) {
      *out = by;
      return true;
    }
  }
  return false;
}

const char* groupByName(GroupBy by) {
  switch (by) {
    case GroupBy::kTenant: return "tenant";
    case GroupBy::kModel: return "model";
    case GroupBy::kRoute: return "route";
    case GroupBy::kProvider: return "provider";
    case GroupBy::kUser: return "user";
    case GroupBy::kPromptVersion: return "prompt_version";
    case GroupBy::kNone: break;
  }
  return "all";
}

bool listRequests(sqlite3* db, const TraceFilter& filter, const QueryLimits& limits, std::vector<RequestRow>* out,
                  std::string* error) {
  if (!validFilter(filter, error)) return false;
  QueryDeadline deadline(db, limits);
  Where w = whereOf(filter);
  std::string sql = std::string("SELECT ") + kRequestColumns + " FROM requests r" + w.sql +
                    " ORDER BY r.start_unix_ns DESC, r.id DESC LIMIT ?" + std::to_string(w.values.size() + 1);
  Statement s(db, sql);
  if (!s.ok()) {
    *error = deadline.error("list");
    return false;
  }
  w.bind(s);
  s.integer(static_cast<int>(w.values.size() + 1), filter.limit ? filter.limit : 50);
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out->push_back(readRequest(s, false));
  if (rc != SQLITE_DONE) {
    *error = deadline.error("list");
    return false;
  }
  return true;
}

bool loadTrace(sqlite3* db, std::string_view trace_id, const QueryLimits& limits, TraceDetail* out,
               std::string* error) {
  QueryDeadline deadline(db, limits);
  Statement s(db, std::string("SELECT ") + kRequestColumns +
                      " FROM requests r WHERE r.trace_key = ?1 AND r.trace_id = ?2 ORDER BY r.start_unix_ns, r.id");
  if (!s.ok()) {
    *error = deadline.error("trace");
    return false;
  }
  s.integer(1, traceKey(trace_id));
  s.text(2, trace_id);
  int rc;
  size_t content_bytes = 0;
  while ((rc = s.step()) == SQLITE_ROW) {
    if (out->requests.size() == kMaxTraceRequests || content_bytes >= kMaxTraceContentBytes) {
      out->truncated = true;
      break;
    }
    const RequestRow& r = out->requests.emplace_back(readRequest(s, true, &out->spans));
    content_bytes += r.prompt.size() + r.answer.size() + r.answer_tool_calls.size();
  }
  if (rc != SQLITE_DONE && !out->truncated) {
    *error = deadline.error("trace");
    return false;
  }
  // The feedback that scores one of the trace's requests (kFeedbackOfRequest).
  Statement fb(db,
               "SELECT fb.trace_id, fb.score, fb.comment, fb.received_unix_ns, fb.tenant, fb.user, fb.session"
               " FROM feedback fb WHERE fb.trace_id = ?1 AND (fb.tenant = '' OR fb.tenant IN"
               " (SELECT r.tenant FROM requests r WHERE r.trace_key = ?2 AND r.trace_id = ?1))"
               " ORDER BY fb.received_unix_ns, fb.id");
  if (!fb.ok()) {
    *error = deadline.error("feedback");
    return false;
  }
  fb.text(1, trace_id);
  fb.integer(2, traceKey(trace_id));
  while ((rc = fb.step()) == SQLITE_ROW) {
    if (out->feedback.size() == kMaxTraceFeedback || content_bytes >= kMaxTraceContentBytes) {
      out->feedback_truncated = true;
      break;
    }
    const FeedbackRow& f = out->feedback.emplace_back(FeedbackRow{fb.columnText(0), fb.columnReal(1), fb.columnText(2),
                                                                  fb.columnInt(3), fb.columnText(4), fb.columnText(5),
                                                                  fb.columnText(6)});
    content_bytes += f.comment.size();
  }
  if (rc != SQLITE_DONE && !out->feedback_truncated) {
    *error = deadline.error("feedback");
    return false;
  }
  return true;
}

bool requestStats(sqlite3* db, const TraceFilter& filter, GroupBy by, const QueryLimits& limits,
                  std::vector<StatsRow>* out, std::string* error) {
  if (!validFilter(filter, error)) return false;
  QueryDeadline deadline(db, limits);
  Where w = whereOf(filter);
  // Rows come sorted by group, then latency, so each group's latencies come sorted.
  std::string sql = std::string("SELECT ") + groupColumn(by) +
                    " AS k, r.duration_us, r.status, r.finish_reason, r.cache_hit, r.input_tokens, r.output_tokens,"
                    " r.cost_usd FROM requests r" + w.sql + " ORDER BY k, r.duration_us";
  Statement s(db, sql);
  if (!s.ok()) {
    *error = deadline.error("stats");
    return false;
  }
  w.bind(s);
  struct Group {
    StatsRow row;
    std::vector<int64_t> latencies;
  };
  // The busiest first, then by key.
  auto better = [](const Group& a, const Group& b) {
    return a.row.requests != b.row.requests ? a.row.requests > b.row.requests : a.row.key < b.row.key;
  };
  std::vector<Group> kept;
  Group other{StatsRow{kOtherGroups, 0}, {}};
  other.row.other = true;
  auto toOther = [&](Group g) {
    StatsRow& o = other.row;
    o.groups += g.row.groups;
    o.requests += g.row.requests;
    o.errors += g.row.errors;
    o.refusals += g.row.refusals;
    o.cache_hits += g.row.cache_hits;
    o.input_tokens += g.row.input_tokens;
    o.output_tokens += g.row.output_tokens;
    o.cost_usd += g.row.cost_usd;
    other.latencies.insert(other.latencies.end(), g.latencies.begin(), g.latencies.end());
  };
  Group current;
  bool started = false;
  uint64_t seen = 0;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    if (++seen % kRowsPerDeadlineCheck == 0 && deadline.expired()) break;
    std::string key = s.columnText(0);
    if (!started || current.row.key != key) {
      if (started) keepBest(&kept, std::move(current), better, toOther);
      current = Group{StatsRow{key}, {}};
      started = true;
    }
    StatsRow& row = current.row;
    current.latencies.push_back(s.columnInt(1));
    ++row.requests;
    if (s.columnText(2) != "OK") ++row.errors;
    if (isRefusal(s.columnText(3))) ++row.refusals;
    if (s.columnInt(4)) ++row.cache_hits;
    row.input_tokens += static_cast<uint64_t>(s.columnInt(5));
    row.output_tokens += static_cast<uint64_t>(s.columnInt(6));
    row.cost_usd += s.columnReal(7);
  }
  if (rc != SQLITE_DONE || deadline.expired()) {
    *error = deadline.error("stats");
    return false;
  }
  if (started) keepBest(&kept, std::move(current), better, toOther);
  std::sort(kept.begin(), kept.end(), better);
  if (other.row.groups) {
    // Several groups' sorted runs, one after another.
    std::sort(other.latencies.begin(), other.latencies.end());
    kept.push_back(std::move(other));
  }
  if (deadline.expired()) {
    *error = deadline.error("stats");
    return false;
  }
  for (Group& g : kept) {
    g.row.p50_ms = nearestRank(g.latencies, 0.50);
    g.row.p95_ms = nearestRank(g.latencies, 0.95);
    g.row.p99_ms = nearestRank(g.latencies, 0.99);
    out->push_back(std::move(g.row));
  }
  return true;
}

bool validBuckets(const TraceFilter& f, uint32_t bucket_seconds, int64_t now_unix_ns, std::string* error) {
  if (bucket_seconds == 0 || bucket_seconds > kMaxBucketSeconds) {
    *error = "bucket must be 1.." + std::to_string(kMaxBucketSeconds) + " seconds";
    return false;
  }
  if (f.since_unix_ns == 0) {
    *error = "a bucketed query needs since (e.g. since=1h)";
    return false;
  }
  int64_t until = f.until_unix_ns ? f.until_unix_ns : now_unix_ns;
  int64_t width = int64_t{bucket_seconds} * 1000000000;
  if (until > f.since_unix_ns && (until - 1) / width - f.since_unix_ns / width + 1 > int64_t{kMaxBuckets}) {
    *error = "since..until spans more than " + std::to_string(kMaxBuckets) + " buckets; widen bucket or narrow since";
    return false;
  }
  return true;
}

bool bucketedStats(sqlite3* db, const TraceFilter& filter, GroupBy by, uint32_t bucket_seconds,
                   const QueryLimits& limits, std::vector<SeriesRow>* out, std::string* error) {
  int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  if (!validFilter(filter, error) || !validBuckets(filter, bucket_seconds, now, error)) return false;
  QueryDeadline deadline(db, limits);
  Where w = whereOf(filter);
  std::string width = "?" + std::to_string(w.values.size() + 1);
  std::string sql = std::string("SELECT ") + groupColumn(by) + " AS k, (r.start_unix_ns / " + width + ") * " + width +
                    " AS b, count(*), sum(r.status <> 'OK'), sum(r.cache_hit <> 0), sum(r.input_tokens),"
                    " sum(r.output_tokens), total(r.cost_usd) FROM requests r" + w.sql +
                    " GROUP BY k, b ORDER BY k, b";
  Statement s(db, sql);
  if (!s.ok()) {
    *error = deadline.error("stats");
    return false;
  }
  w.bind(s);
  s.integer(static_cast<int>(w.values.size() + 1), int64_t{bucket_seconds} * 1000000000);
  // The costliest first, then the busiest, then by key.
  auto better = [](const SeriesRow& a, const SeriesRow& b) {
    if (a.cost_usd != b.cost_usd) return a.cost_usd > b.cost_usd;
    return a.requests != b.requests ? a.requests > b.requests : a.key < b.key;
  };
  std::vector<SeriesRow> kept;
  SeriesRow other;
  other.key = kOtherGroups;
  other.groups = 0;
  other.other = true;
  std::map<int64_t, BucketRow> other_buckets;  // at most kMaxBuckets
  auto toOther = [&](SeriesRow series) {
    other.groups += series.groups;
    other.requests += series.requests;
    other.cost_usd += series.cost_usd;
    for (const BucketRow& b : series.buckets) {
      BucketRow& o = other_buckets.try_emplace(b.start_unix_ns, BucketRow{b.start_unix_ns}).first->second;
      o.requests += b.requests;
      o.errors += b.errors;
      o.cache_hits += b.cache_hits;
      o.input_tokens += b.input_tokens;
      o.output_tokens += b.output_tokens;
      o.cost_usd += b.cost_usd;
    }
  };
  SeriesRow current;
  bool started = false;
  uint64_t seen = 0;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    if (++seen % kRowsPerDeadlineCheck == 0 && deadline.expired()) break;
    std::string key = s.columnText(0);
    if (!started || current.key != key) {
      if (started) keepBest(&kept, std::move(current), better, toOther);
      current = SeriesRow();
      current.key = key;
      started = true;
    }
    SeriesRow& series = current;
    BucketRow b{s.columnInt(1),
                static_cast<uint64_t>(s.columnInt(2)),
                static_cast<uint64_t>(s.columnInt(3)),
                static_cast<uint64_t>(s.columnInt(4)),
                static_cast<uint64_t>(s.columnInt(5)),
                static_cast<uint64_t>(s.columnInt(6)),
                s.columnReal(7)};
    series.requests += b.requests;
    series.cost_usd += b.cost_usd;
    series.buckets.push_back(b);
  }
  if (rc != SQLITE_DONE || deadline.expired()) {
    *error = deadline.error("stats");
    return false;
  }
  if (started) keepBest(&kept, std::move(current), better, toOther);
  std::sort(kept.begin(), kept.end(), better);
  if (other.groups) {
    for (auto& [start, b] : other_buckets) other.buckets.push_back(b);
    kept.push_back(std::move(other));
  }
  out->insert(out->end(), std::make_move_iterator(kept.begin()), std::make_move_iterator(kept.end()));
  return true;
}

bool parseTimeBound(std::string_view text, int64_t now_unix_ns, int64_t* out) {
  if (text.empty()) return false;
  std::string t(text);
  char* end = nullptr;
  double number = std::strtod(t.c_str(), &end);
  // Seconds fit int64 nanoseconds up to about 9.2e9 (the year 2262); past that, or not finite
  // ("1e300", "inf"), the conversion would be undefined.
  constexpr double kMaxSeconds = 9e9;
  if (end != t.c_str() && !(number >= -kMaxSeconds && number <= kMaxSeconds)) return false;
  if (end != t.c_str() && *end != '\0' && end[1] == '\0' && number >= 0) {
    static const std::pair<char, double> kUnits[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 604800}};
    for (const auto& [unit, seconds] : kUnits) {
      if (*end == unit) {
        if (!(number * seconds <= kMaxSeconds)) return false;
        *out = now_unix_ns - static_cast<int64_t>(number * seconds * 1e9);
        return true;
      }
    }
    return false;
  }
  if (end != t.c_str() && *end == '\0') {  // Unix seconds
    *out = static_cast<int64_t>(number * 1e9);
    return true;
  }
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(t.c_str(), "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &consumed) == 6 &&
      static_cast<size_t>(consumed) == t.size()) {
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    // timegm carries what overflows (February 31st is March 3rd): a date that comes back changed
    // was not a date.
    std::tm normalized = tm;
    std::time_t seconds = timegm(&normalized);
    if (normalized.tm_year != tm.tm_year || normalized.tm_mon != tm.tm_mon || normalized.tm_mday != tm.tm_mday ||
        normalized.tm_hour != tm.tm_hour || normalized.tm_min != tm.tm_min || normalized.tm_sec != tm.tm_sec) {
      return false;
    }
    *out = static_cast<int64_t>(seconds) * 1000000000;
    return true;
  }
  return false;
}

}  // namespace outrigger::traces
