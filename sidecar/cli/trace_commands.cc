// outrigger traces list | show | stats: the local trace store (exporter.sqlite), read-only.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <map>
#include <set>
#include <thread>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

#include "cli/commands.h"
#include "cli/sampled_judge.h"
#include "cli/store_options.h"
#include "config/config.h"
#include "traces/arm_comparison.h"
#include "traces/dataset_capture.h"
#include "traces/store_location.h"
#include "traces/trace_json.h"
#include "traces/trace_query.h"
#include "traces/trace_store.h"

namespace outrigger::cli {
namespace {

std::string utcTime(int64_t unix_ns) {
  std::time_t seconds = static_cast<std::time_t>(unix_ns / 1000000000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%03d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>((unix_ns / 1000000) % 1000));
  return buf;
}

std::string verdictSummary(const traces::RequestRow& r) {
  std::string out;
  for (const traces::VerdictRow& v : r.verdicts) {
    if (v.verdict == "pass" || v.verdict == "skipped") continue;
    out += (out.empty() ? "" : ",") + v.guardrail + "=" + v.verdict;
  }
  return out.empty() ? "-" : out;
}

const char* orDash(const std::string& s) { return s.empty() ? "-" : s.c_str(); }

void printRequestLine(const traces::RequestRow& r) {
  std::printf("%s  %-32s  %-12s %-20s %-18s %9.1f %7lld/%-7lld %10.6f  %-10s %s\n", utcTime(r.start_unix_ns).c_str(),
              printable(r.trace_id).c_str(), orDash(r.route), printable(orDash(r.model)).c_str(), r.status.c_str(),
              static_cast<double>(r.duration_us) / 1000.0, static_cast<long long>(r.input_tokens),
              static_cast<long long>(r.output_tokens), r.cost_usd, printable(orDash(r.tenant)).c_str(),
              printable(verdictSummary(r)).c_str());
}

// A few attributes worth a glance on a span line; the rest are in --json.
std::string spanNotes(const traces::SpanRow& s) {
  static const char* kKeys[] = {"gen_ai.request.model", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
                                "outrigger.cost_usd", "outrigger.retry_reason", "error.type",
                                "outrigger.guardrail.verdict", "outrigger.cache.hit"};
  rapidjson::Document attributes;
  if (attributes.Parse(s.attributes.c_str(), s.attributes.size()).HasParseError() || !attributes.IsObject()) return {};
  std::string notes;
  for (const char* key : kKeys) {
    auto it = attributes.FindMember(key);
    if (it == attributes.MemberEnd() || !it->value.IsString()) continue;
    std::string_view name = key;
    name.remove_prefix(name.rfind('.') + 1);
    notes += "  " + std::string(name) + "=" + std::string(it->value.GetString(), it->value.GetStringLength());
  }
  return notes;
}

// The trace as a tree: each request's root span under the span that called it (a caller's
// span, or a plugin's model call in another request), stage spans under their request.
void printTree(const traces::TraceDetail& t) {
  struct Node {
    std::string id, parent;
    int64_t start = 0;
    std::string line;
  };
  std::vector<Node> nodes;
  for (const traces::RequestRow& r : t.requests) {
    char line[512];
    std::snprintf(line, sizeof line, "request %s  %s  %.2f ms  %s/%s  tokens %lld/%lld  $%.6f%s%s%s",
                  r.route.c_str(), r.status.c_str(), static_cast<double>(r.duration_us) / 1000.0, orDash(r.provider),
                  orDash(r.model), static_cast<long long>(r.input_tokens), static_cast<long long>(r.output_tokens),
                  r.cost_usd, r.tenant.empty() ? "" : ("  tenant=" + r.tenant).c_str(),
                  r.message.empty() ? "" : "  ", r.message.c_str());
    nodes.push_back({r.span_id, r.parent_span_id, r.start_unix_ns, line});
  }
  for (const traces::SpanRow& s : t.spans) {
    char line[512];
    std::snprintf(line, sizeof line, "%s %s  %s  %.3f ms%s", s.stage.c_str(), s.instance.c_str(), s.outcome.c_str(),
                  static_cast<double>(s.duration_us) / 1000.0, spanNotes(s).c_str());
    nodes.push_back({s.span_id, s.parent_span_id, s.start_unix_ns, line});
  }
  std::map<std::string, size_t> by_id;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (!nodes[i].id.empty()) by_id.emplace(nodes[i].id, i);
  }
  std::multimap<std::string, size_t> children;  // parent id -> child, roots under ""
  for (size_t i = 0; i < nodes.size(); ++i) {
    const std::string& parent = by_id.count(nodes[i].parent) && nodes[i].parent != nodes[i].id ? nodes[i].parent : "";
    children.emplace(parent, i);
  }
  std::vector<bool> printed(nodes.size(), false);
  std::function<void(const std::string&, int)> walk = [&](const std::string& parent, int depth) {
    std::vector<size_t> kids;
    for (auto [it, end] = children.equal_range(parent); it != end; ++it) kids.push_back(it->second);
    std::stable_sort(kids.begin(), kids.end(), [&](size_t a, size_t b) { return nodes[a].start < nodes[b].start; });
    for (size_t k : kids) {
      if (printed[k]) continue;
      printed[k] = true;
      std::printf("%*s%s\n", depth * 2, "", printable(nodes[k].line).c_str());
      if (!nodes[k].id.empty()) walk(nodes[k].id, depth + 1);
    }
  };
  walk("", 0);
}

}  // namespace

int listTraces(const Options& opt) {
  traces::TraceFilter filter;
  if (!filterOf(opt, "traces list", &filter)) return 2;
  traces::Database db = openStore(opt, "traces list");
  if (!db) return 1;
  std::vector<traces::RequestRow> rows;
  std::string error;
  if (!traces::listRequests(db.get(), filter, {}, &rows, &error)) {
    std::fprintf(stderr, "outrigger traces list: %s\n", error.c_str());
    return 1;
  }
  if (opt.json) {
    std::printf("%s\n", traces::requestsJson(rows).c_str());
    return 0;
  }
  std::printf("%-23s  %-32s  %-12s %-20s %-18s %9s %15s %10s  %-10s %s\n", "START (UTC)", "TRACE", "ROUTE", "MODEL",
              "STATUS", "MS", "TOKENS IN/OUT", "COST USD", "TENANT", "VERDICTS");
  for (const traces::RequestRow& r : rows) printRequestLine(r);
  return 0;
}

int showTrace(const Options& opt) {
  traces::Database db = openStore(opt, "traces show");
  if (!db) return 1;
  traces::TraceDetail trace;
  std::string error;
  if (!traces::loadTrace(db.get(), opt.trace_id, {}, &trace, &error)) {
    std::fprintf(stderr, "outrigger traces show: %s\n", error.c_str());
    return 1;
  }
  if (trace.requests.empty()) {
    std::fprintf(stderr, "outrigger traces show: no trace %s in the store\n", opt.trace_id.c_str());
    return 1;
  }
  if (opt.json) {
    std::printf("%s\n", traces::traceJson(opt.trace_id, trace).c_str());
    return 0;
  }
  std::printf("trace %s  started %s UTC\n", opt.trace_id.c_str(), utcTime(trace.requests.front().start_unix_ns).c_str());
  printTree(trace);
  for (const traces::RequestRow& r : trace.requests) {
    for (const traces::VerdictRow& v : r.verdicts) {
      std::printf("verdict %s: %s%s%s\n", v.guardrail.c_str(), v.verdict.c_str(), v.reason.empty() ? "" : " - ",
                  printable(v.reason).c_str());
    }
    if (r.capture == "full") std::printf("answer: %s\n", printable(r.answer).c_str());
  }
  if (trace.truncated) {
    std::printf("(the trace has more requests than one answer shows: the first %zu, or 16 MiB of content)\n",
                trace.requests.size());
  }
  for (const traces::FeedbackRow& f : trace.feedback) {
    std::printf("feedback %s UTC: score %g%s%s\n", utcTime(f.received_unix_ns).c_str(), f.score,
                f.comment.empty() ? "" : " - ", printable(f.comment).c_str());
  }
  if (trace.feedback_truncated) {
    std::printf("(more feedback scores the trace than one answer shows: the first %zu, or 16 MiB with the content)\n",
                trace.feedback.size());
  }
  return 0;
}

// Each group's requests, errors, cache hits, tokens and cost per time bucket (--bucket).
// A group's name in a table: the row of the groups past the cap says how many it holds.
static std::string groupLabel(const std::string& key, bool other, uint64_t groups) {
  return other ? "(" + std::to_string(groups) + " more groups)" : printable(orDash(key));
}

int bucketedStats(const Options& opt, traces::GroupBy by, const traces::TraceFilter& filter, sqlite3* db) {
  std::vector<traces::SeriesRow> series;
  std::string error;
  if (!traces::bucketedStats(db, filter, by, opt.bucket_seconds, {}, &series, &error)) {
    std::fprintf(stderr, "outrigger traces stats: %s\n", error.c_str());
    return 1;
  }
  if (opt.json) {
    int64_t until = filter.until_unix_ns ? filter.until_unix_ns : nowUnixNs();
    std::printf("%s\n", traces::bucketedStatsJson(by, opt.bucket_seconds, filter.since_unix_ns, until, series).c_str());
    return 0;
  }
  std::printf("%-24s %-23s %9s %7s %10s %12s %12s %12s\n", traces::groupByName(by), "BUCKET (UTC)", "REQUESTS",
              "ERRORS", "CACHE HITS", "IN TOKENS", "OUT TOKENS", "COST USD");
  for (const traces::SeriesRow& s : series) {
    for (const traces::BucketRow& b : s.buckets) {
      std::printf("%-24s %-23s %9llu %7llu %10llu %12llu %12llu %12.6f\n", groupLabel(s.key, s.other, s.groups).c_str(),
                  utcTime(b.start_unix_ns).c_str(), static_cast<unsigned long long>(b.requests),
                  static_cast<unsigned long long>(b.errors), static_cast<unsigned long long>(b.cache_hits),
                  static_cast<unsigned long long>(b.input_tokens), static_cast<unsigned long long>(b.output_tokens),
                  b.cost_usd);
    }
  }
  return 0;
}

int traceStats(const Options& opt) {
  traces::GroupBy by;
  if (!traces::parseGroupBy(opt.group_by, &by)) {
    std::fprintf(stderr, "outrigger traces stats: --by %s: use tenant, model, route, provider, user or prompt_version\n",
                 opt.group_by.c_str());
    return 2;
  }
  traces::TraceFilter filter;
  if (!filterOf(opt, "traces stats", &filter)) return 2;
  std::string why;
  if (opt.bucket_seconds && !traces::validBuckets(filter, opt.bucket_seconds, nowUnixNs(), &why)) {
    std::fprintf(stderr, "outrigger traces stats: %s\n", why.c_str());
    return 2;
  }
  traces::Database db = openStore(opt, "traces stats");
  if (!db) return 1;
  if (opt.bucket_seconds) return bucketedStats(opt, by, filter, db.get());
  std::vector<traces::StatsRow> rows;
  std::string error;
  if (!traces::requestStats(db.get(), filter, by, {}, &rows, &error)) {
    std::fprintf(stderr, "outrigger traces stats: %s\n", error.c_str());
    return 1;
  }
  if (opt.json) {
    std::printf("%s\n", traces::statsJson(by, rows).c_str());
    return 0;
  }
  std::printf("%-24s %9s %7s %9s %9s %9s %9s %12s %12s %12s\n", traces::groupByName(by), "REQUESTS", "ERR%",
              "REFUSAL%", "P50 MS", "P95 MS", "P99 MS", "IN TOKENS", "OUT TOKENS", "COST USD");
  for (const traces::StatsRow& r : rows) {
    double n = r.requests ? static_cast<double>(r.requests) : 1;
    std::printf("%-24s %9llu %7.2f %9.2f %9.2f %9.2f %9.2f %12llu %12llu %12.6f\n", groupLabel(r.key, r.other, r.groups).c_str(),
                static_cast<unsigned long long>(r.requests), 100.0 * static_cast<double>(r.errors) / n,
                100.0 * static_cast<double>(r.refusals) / n, r.p50_ms, r.p95_ms, r.p99_ms,
                static_cast<unsigned long long>(r.input_tokens), static_cast<unsigned long long>(r.output_tokens),
                r.cost_usd);
  }
  return 0;
}

int traceArms(const Options& opt) {
  traces::TraceFilter filter;
  if (!filterOf(opt, "traces arms", &filter)) return 2;
  if (filter.route.empty()) {
    std::fprintf(stderr, "outrigger traces arms: --route is required (the route that splits its traffic)\n");
    return 2;
  }
  traces::Database db = openStore(opt, "traces arms");
  if (!db) return 1;
  std::vector<traces::ArmRow> arms;
  std::vector<std::string> notes;
  std::string error;
  traces::GradeArms grade;
  JudgingTally tally;
  if (!opt.judge_route.empty()) {
    SampledJudging judging;
    if (!sampledJudgingOf(opt, "traces arms", &judging)) return 2;
    grade = [judging, &tally](std::vector<std::vector<traces::ArmAnswer*>>& per_arm) {
      std::vector<std::vector<JudgeItem>> groups;
      for (auto& answers : per_arm) {
        groups.emplace_back();
        for (traces::ArmAnswer* a : answers) groups.back().push_back({&a->prompt_text, &a->answer, &a->judge});
      }
      return judgeSamples(judging, groups, &tally);
    };
  }
  if (!traces::compareArms(db.get(), filter, {}, &arms, &error, grade, &notes)) {
    std::fprintf(stderr, "outrigger traces arms: %s\n", error.c_str());
    return 1;
  }
  if (opt.json) {
    std::printf("%s\n", traces::armsJson(arms, notes).c_str());
    return 0;
  }
  // Each figure with its 95% interval; against the baseline, a '*' marks a significant difference.
  bool judged = std::any_of(arms.begin(), arms.end(), [](const traces::ArmRow& a) { return a.judge.n > 0; });
  std::printf("%-28s %8s %22s %22s %24s %22s%s\n", "ARM", "REQUESTS", "ERROR %", "MEAN MS", "MEAN COST USD", "FEEDBACK",
              judged ? "                  JUDGE" : "");
  auto cell = [](const traces::Estimate& e, double scale, int digits) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f [%.*f, %.*f]", digits, e.value * scale, digits, e.ci.low * scale, digits,
                  e.ci.high * scale);
    return std::string(buf);
  };
  for (const traces::ArmRow& a : arms) {
    std::string judge;
    if (judged) {
      char buf[32];
      std::snprintf(buf, sizeof buf, " %22s", a.judge.n ? cell(a.judge, 1, 2).c_str() : "-");
      judge = buf;
    }
    std::printf("%-28s %8llu %22s %22s %24s %22s%s%s\n", printable(a.arm).c_str(), static_cast<unsigned long long>(a.requests),
                cell(a.error_rate, 100, 1).c_str(), cell(a.latency_ms, 1, 1).c_str(), cell(a.cost_usd, 1, 6).c_str(),
                a.feedback.n ? cell(a.feedback, 1, 2).c_str() : "-", judge.c_str(), a.baseline ? "  (baseline)" : "");
    if (a.baseline) continue;
    auto diff = [](const traces::Difference& d, double scale, int digits) {
      char buf[80];
      std::snprintf(buf, sizeof buf, "%+.*f [%+.*f, %+.*f]%s", digits, d.value * scale, digits, d.ci.low * scale, digits,
                    d.ci.high * scale, d.significant ? "*" : "");
      return std::string(buf);
    };
    std::string judge_diff;
    if (judged) {
      char buf[48];
      std::snprintf(buf, sizeof buf, " %22s", a.judge.n ? diff(a.judge_diff, 1, 2).c_str() : "-");
      judge_diff = buf;
    }
    std::printf("%-28s %8s %22s %22s %24s %22s%s\n", "  vs baseline", "", diff(a.error_rate_diff, 100, 1).c_str(),
                diff(a.latency_diff, 1, 1).c_str(), diff(a.cost_diff, 1, 6).c_str(),
                a.feedback.n ? diff(a.feedback_diff, 1, 2).c_str() : "-", judge_diff.c_str());
  }
  for (const std::string& n : notes) std::printf("note: %s\n", printable(n).c_str());
  return 0;
}

// outrigger eval capture: the store's failed requests appended to a dataset, once or every
// --follow seconds (each round looks only at requests stored since the last, and at those that
// low feedback stored since scores).
int captureCases(const Options& opt) {
  traces::CaptureOptions c;
  if (!filterOf(opt, "eval capture", &c.filter)) return 2;
  c.feedback_below = opt.feedback_below;
  c.redact = opt.redact;
  if (!opt.capture_only.empty()) {
    c.errors = c.denials = c.flags = c.refusals = c.fallbacks = false;
    bool feedback = false;
    for (const std::string& kind : opt.capture_only) {
      if (kind == "feedback") feedback = true;
      else if (kind == "errors") c.errors = true;
      else if (kind == "denials") c.denials = true;
      else if (kind == "flags") c.flags = true;
      else if (kind == "refusals") c.refusals = true;
      else if (kind == "fallbacks") c.fallbacks = true;
      else {
        std::fprintf(stderr, "outrigger eval capture: --only %s: use errors, denials, flags, refusals, fallbacks, feedback\n",
                     kind.c_str());
        return 2;
      }
    }
    // Low feedback is a kind like the others: left out of --only, it is not captured.
    if (!feedback) c.feedback_below = -1;
    if (feedback && c.feedback_below < 0) {
      std::fprintf(stderr, "outrigger eval capture: --only feedback needs --feedback-below S (the score below which an answer is a case)\n");
      return 2;
    }
  }
  traces::Database db = openStore(opt, "eval capture");
  if (!db) return 1;
  std::set<std::string> known = traces::knownPromptHashes(opt.dataset_path);
  for (;;) {
    std::vector<traces::CapturedCase> cases;
    traces::CaptureReport report;
    std::string error;
    if (!traces::captureCases(db.get(), c, &known, &cases, &report, &error)) {
      std::fprintf(stderr, "outrigger eval capture: %s\n", error.c_str());
      return 1;
    }
    if (!cases.empty()) {
      FILE* f = std::fopen(opt.dataset_path.c_str(), "a+e");
      if (!f) {
        std::fprintf(stderr, "outrigger eval capture: cannot append to %s\n", opt.dataset_path.c_str());
        return 1;
      }
      // A last line without its newline (written by hand, or cut by a capture killed mid-write)
      // gets one first: the first case appended would join it, and both be lost to the JSONL.
      std::string text;
      if (std::fseek(f, -1, SEEK_END) == 0 && std::fgetc(f) != '\n') text += '\n';
      for (const auto& k : cases) text += k.line + "\n";
      bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
      if (std::fclose(f) != 0 || !written) {
        std::fprintf(stderr, "outrigger eval capture: cannot write %s\n", opt.dataset_path.c_str());
        return 1;
      }
    }
    std::printf("looked at %llu requests: %llu new cases, %llu already in the dataset, %llu without captured text\n",
                static_cast<unsigned long long>(report.scanned), static_cast<unsigned long long>(report.captured),
                static_cast<unsigned long long>(report.duplicates), static_cast<unsigned long long>(report.without_text));
    std::fflush(stdout);
    if (opt.follow_seconds == 0) return 0;
    if (report.last_request) c.after_request = report.last_request;
    c.after_feedback = report.last_feedback;
    std::this_thread::sleep_for(std::chrono::seconds(opt.follow_seconds));
  }
}

}  // namespace outrigger::cli
