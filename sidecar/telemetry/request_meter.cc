#include "telemetry/request_meter.h"

#include <cstdio>

namespace outrigger::telemetry {
namespace {

const char* verdictName(VerdictKind k) {
  switch (k) {
    case VerdictKind::kPass: return "pass";
    case VerdictKind::kFlag: return "flag";
    case VerdictKind::kDeny: return "deny";
    case VerdictKind::kRewrite: return "rewrite";
    case VerdictKind::kSkipped: return "skipped";
    case VerdictKind::kError: return "error";
  }
  return "error";
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string escape(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string label(const char* name, std::string_view value) { return std::string(name) + "=\"" + escape(value) + "\""; }
// ",tenant=..." when the series has a tenant.
std::string tenantLabel(std::string_view tenant) { return tenant.empty() ? std::string() : "," + label("tenant", tenant); }

template <size_t N>
void renderHistogram(std::string* out, const std::string& name, const std::string& labels, const Histogram<N>& h,
                     const std::array<double, N>& bounds) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < N; ++i) {
    cumulative += h.buckets[i];
    *out += name + "_bucket{" + labels + ",le=\"" + number(bounds[i]) + "\"} " + std::to_string(cumulative) + "\n";
  }
  *out += name + "_bucket{" + labels + ",le=\"+Inf\"} " + std::to_string(h.count) + "\n";
  *out += name + "_sum{" + labels + "} " + number(h.sum) + "\n";
  *out += name + "_count{" + labels + "} " + std::to_string(h.count) + "\n";
}

void header(std::string* out, const char* name, const char* type, const char* help) {
  *out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

template <size_t N>
void Histogram<N>::add(double seconds, const std::array<double, N>& bounds) {
  ++count;
  sum += seconds;
  for (size_t i = 0; i < N; ++i) {
    if (seconds <= bounds[i]) {
      ++buckets[i];
      return;
    }
  }
}

template <size_t N>
void Histogram<N>::merge(const Histogram& o) {
  count += o.count;
  sum += o.sum;
  for (size_t i = 0; i < N; ++i) buckets[i] += o.buckets[i];
}

template struct Histogram<16>;

void RequestMeter::record(const FinishedRequest& r) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string route(r.route), tenant(r.tenant);
  data_.durations[{route, tenant, std::string(codeName(r.code))}].add(r.seconds, kDurationBuckets);
  if (r.first_chunk_seconds > 0) data_.first_chunks[{route, tenant}].add(r.first_chunk_seconds, kFirstChunkBuckets);
  if (r.spans) {
    for (const SpanRecord& s : *r.spans) {
      if (s.stage == "cache.lookup" && (s.outcome == "hit" || s.outcome == "miss")) {
        ++data_.lookups[{route, s.instance, s.outcome}];
      }
    }
  }
  if (r.verdicts) {
    for (const Verdict& v : *r.verdicts) ++data_.verdicts[{route, v.guardrail, verdictName(v.kind)}];
  }
}

void RequestMeter::mergeInto(RequestMeterSnapshot* into) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [k, h] : data_.durations) into->durations[k].merge(h);
  for (const auto& [k, h] : data_.first_chunks) into->first_chunks[k].merge(h);
  for (const auto& [k, n] : data_.lookups) into->lookups[k] += n;
  for (const auto& [k, n] : data_.verdicts) into->verdicts[k] += n;
}

std::string renderRequestMetrics(const RequestMeterSnapshot& s) {
  std::string out;
  header(&out, "outrigger_request_duration_seconds", "histogram",
         "Time from a request's arrival to its end, by route, tenant (where configured) and status (both fronts).");
  for (const auto& [k, h] : s.durations) {
    renderHistogram(&out, "outrigger_request_duration_seconds",
                    label("route", std::get<0>(k)) + tenantLabel(std::get<1>(k)) + "," + label("code", std::get<2>(k)), h,
                    kDurationBuckets);
  }
  header(&out, "outrigger_time_to_first_chunk_seconds", "histogram",
         "Time from a streamed request's arrival to its first chunk, by route and tenant (where configured).");
  for (const auto& [k, h] : s.first_chunks) {
    renderHistogram(&out, "outrigger_time_to_first_chunk_seconds", label("route", std::get<0>(k)) + tenantLabel(std::get<1>(k)),
                    h, kFirstChunkBuckets);
  }
  header(&out, "outrigger_cache_lookups_total", "counter", "Cache lookups, by route, cache and result (hit or miss).");
  for (const auto& [k, n] : s.lookups) {
    out += "outrigger_cache_lookups_total{" + label("route", std::get<0>(k)) + "," + label("cache", std::get<1>(k)) +
           "," + label("result", std::get<2>(k)) + "} " + std::to_string(n) + "\n";
  }
  header(&out, "outrigger_guardrail_verdicts_total", "counter",
         "Final guardrail verdicts of finished requests, by route, guardrail and verdict.");
  for (const auto& [k, n] : s.verdicts) {
    out += "outrigger_guardrail_verdicts_total{" + label("route", std::get<0>(k)) + "," +
           label("guardrail", std::get<1>(k)) + "," + label("verdict", std::get<2>(k)) + "} " + std::to_string(n) + "\n";
  }
  return out;
}

}  // namespace outrigger::telemetry
