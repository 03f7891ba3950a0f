#include "genai_metrics.h"

#include <algorithm>
#include <charconv>
#include <tuple>

#include "otlp_proto.h"

namespace outrigger::otlp {
namespace {

// A metric's identity, the same in either encoding.
struct MetricInfo {
  const char* name;
  const char* unit;
  const char* description;
};
constexpr MetricInfo kTokenUsage{"gen_ai.client.token.usage", "{token}", "Number of input and output tokens used"};
constexpr MetricInfo kOperationDuration{"gen_ai.client.operation.duration", "s", "GenAI operation duration"};
constexpr MetricInfo kSpanOutcomes{"outrigger.otlp.spans", "{span}", "Spans the OTLP exporter handled, by outcome"};

std::string_view sv(outrigger_str s) { return s.size ? std::string_view(s.data, s.size) : std::string_view(); }

std::string_view attribute(const outrigger_span_trace_view& t, std::string_view k) {
  for (size_t i = 0; i < t.attribute_count; ++i) {
    if (sv(t.attributes[i].key) == k) return sv(t.attributes[i].value);
  }
  return {};
}

bool parseCount(std::string_view s, uint64_t* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

void writeInfo(JsonWriter& w, const MetricInfo& info) {
  w.Key("name");
  w.String(info.name);
  w.Key("unit");
  w.String(info.unit);
  w.Key("description");
  w.String(info.description);
}

void writeAttributes(JsonWriter& w, const StringAttributes& attributes) {
  w.Key("attributes");
  w.StartArray();
  for (const auto& [k, v] : attributes) {
    if (k == kOverflowAttribute) writeBoolAttribute(w, k, true);
    else writeStringAttribute(w, k, v);
  }
  w.EndArray();
}

template <class Family, size_t N>
void writeHistogram(JsonWriter& w, const MetricInfo& info, const Family& family, const std::array<double, N>& bounds,
                    uint64_t start_unix_ns, uint64_t now_unix_ns) {
  w.StartObject();
  writeInfo(w, info);
  w.Key("histogram");
  w.StartObject();
  w.Key("aggregationTemporality");
  w.Int(2);  // cumulative
  w.Key("dataPoints");
  w.StartArray();
  for (const auto& [attributes, h] : family) {
    w.StartObject();
    writeAttributes(w, attributes);
    w.Key("startTimeUnixNano");
    writeInt64(w, start_unix_ns);
    w.Key("timeUnixNano");
    writeInt64(w, now_unix_ns);
    w.Key("count");
    writeInt64(w, h.count);
    w.Key("sum");
    w.Double(h.sum);
    w.Key("bucketCounts");
    w.StartArray();
    for (uint64_t b : h.buckets) writeInt64(w, b);
    w.EndArray();
    w.Key("explicitBounds");
    w.StartArray();
    for (double b : bounds) w.Double(b);
    w.EndArray();
    w.Key("min");
    w.Double(h.min);
    w.Key("max");
    w.Double(h.max);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  w.EndObject();
}

void writeSpanCounters(JsonWriter& w, const std::vector<std::pair<std::string, uint64_t>>& counters,
                       uint64_t start_unix_ns, uint64_t now_unix_ns) {
  w.StartObject();
  writeInfo(w, kSpanOutcomes);
  w.Key("sum");
  w.StartObject();
  w.Key("aggregationTemporality");
  w.Int(2);
  w.Key("isMonotonic");
  w.Bool(true);
  w.Key("dataPoints");
  w.StartArray();
  for (const auto& [outcome, value] : counters) {
    w.StartObject();
    writeAttributes(w, {{"outcome", outcome}});
    w.Key("startTimeUnixNano");
    writeInt64(w, start_unix_ns);
    w.Key("timeUnixNano");
    writeInt64(w, now_unix_ns);
    w.Key("asInt");
    writeInt64(w, value);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  w.EndObject();
}

// The same two families and the counters as Metric messages (ScopeMetrics.metrics fields).
void addInfo(protozero::pbf_writer& m, const MetricInfo& info) {
  m.add_string(pb::metric::kName, info.name);
  m.add_string(pb::metric::kDescription, info.description);
  m.add_string(pb::metric::kUnit, info.unit);
}

template <class Family, size_t N>
void addHistogram(std::string* out, const MetricInfo& info, const Family& family, const std::array<double, N>& bounds,
                  uint64_t start_unix_ns, uint64_t now_unix_ns) {
  protozero::pbf_writer metrics(*out);
  protozero::pbf_writer m(metrics, pb::scope_metrics::kMetrics);
  addInfo(m, info);
  protozero::pbf_writer h(m, pb::metric::kHistogram);
  for (const auto& [attributes, series] : family) {
    protozero::pbf_writer p(h, pb::histogram::kDataPoints);
    pb::Attributes a(out, pb::histogram_point::kAttributes);
    for (const auto& [k, v] : attributes) {
      if (k == kOverflowAttribute) a.boolAttribute(k, true);
      else a.stringAttribute(k, v);
    }
    p.add_fixed64(pb::histogram_point::kStartTime, start_unix_ns);
    p.add_fixed64(pb::histogram_point::kTime, now_unix_ns);
    p.add_fixed64(pb::histogram_point::kCount, series.count);
    p.add_double(pb::histogram_point::kSum, series.sum);
    p.add_packed_fixed64(pb::histogram_point::kBucketCounts, series.buckets.begin(), series.buckets.end());
    p.add_packed_double(pb::histogram_point::kExplicitBounds, bounds.begin(), bounds.end());
    p.add_double(pb::histogram_point::kMin, series.min);
    p.add_double(pb::histogram_point::kMax, series.max);
  }
  h.add_enum(pb::histogram::kTemporality, pb::kAggregationCumulative);
}

void addSpanCounters(std::string* out, const std::vector<std::pair<std::string, uint64_t>>& counters,
                     uint64_t start_unix_ns, uint64_t now_unix_ns) {
  protozero::pbf_writer metrics(*out);
  protozero::pbf_writer m(metrics, pb::scope_metrics::kMetrics);
  addInfo(m, kSpanOutcomes);
  protozero::pbf_writer sum(m, pb::metric::kSum);
  for (const auto& [outcome, value] : counters) {
    protozero::pbf_writer p(sum, pb::sum::kDataPoints);
    pb::Attributes(out, pb::number_point::kAttributes).stringAttribute("outcome", outcome);
    p.add_fixed64(pb::number_point::kStartTime, start_unix_ns);
    p.add_fixed64(pb::number_point::kTime, now_unix_ns);
    p.add_sfixed64(pb::number_point::kAsInt, static_cast<int64_t>(value));
  }
  sum.add_enum(pb::sum::kTemporality, pb::kAggregationCumulative);
  sum.add_bool(pb::sum::kMonotonic, true);
}

}  // namespace

void Histogram::observe(double value, const double* bounds, size_t bound_count) {
  if (buckets.empty()) buckets.assign(bound_count + 1, 0);
  // OTLP explicit buckets are upper-inclusive: bucket i holds (bounds[i-1], bounds[i]].
  size_t i = static_cast<size_t>(std::lower_bound(bounds, bounds + bound_count, value) - bounds);
  ++buckets[i];
  min = count ? std::min(min, value) : value;
  max = count ? std::max(max, value) : value;
  ++count;
  sum += value;
}

Histogram* GenAiMetrics::series(Family* family, KeyView key, size_t bound_count) {
  // Sorted by key (insertion sort: at most six, nearly in order already).
  for (size_t i = 1; i < key.size; ++i) {
    for (size_t j = i; j > 0 && key.items[j].first < key.items[j - 1].first; --j) {
      std::swap(key.items[j], key.items[j - 1]);
    }
  }
  auto it = family->find(key);
  if (it != family->end()) return &it->second;
  if (tokens_.size() + durations_.size() >= max_series_) {
    // OpenTelemetry's cardinality limit: past it, measurements go to the series whose only
    // attribute is otel.metric.overflow = true, so totals stay whole (a caller naming a new
    // model per request would otherwise keep every later model out).
    ++refused_series_;
    KeyView overflow;
    overflow.add(kOverflowAttribute, "true");
    key = overflow;
    if (auto o = family->find(key); o != family->end()) return &o->second;
  }
  Histogram& h = (*family)[Key(key.begin(), key.end())];
  h.buckets.assign(bound_count + 1, 0);
  return &h;
}

void GenAiMetrics::observe(const outrigger_record_view& r) {
  if (r.hdr.struct_size < OUTRIGGER_SIZE_THROUGH(outrigger_record_view, answer_tool_call_count) || !r.span_traces ||
      r.span_trace_size < sizeof(outrigger_span_trace_view)) {
    return;
  }
  for (size_t i = 0; i < r.span_count; ++i) {
    std::string_view stage = sv(r.spans[i].stage);
    if (stage != "provider" && stage != "provider.embed") continue;
    const auto& t = *reinterpret_cast<const outrigger_span_trace_view*>(
        reinterpret_cast<const char*>(r.span_traces) + i * r.span_trace_size);
    std::string_view op = attribute(t, "gen_ai.operation.name");
    std::string_view provider = attribute(t, "gen_ai.provider.name");
    std::string_view model = attribute(t, "gen_ai.request.model");
    KeyView base;
    base.add("gen_ai.operation.name", op.empty() ? (stage == "provider" ? "chat" : "embeddings") : op);
    base.add("gen_ai.provider.name", provider.empty() ? sv(r.spans[i].instance) : provider);
    base.add("gen_ai.request.model", model.empty() ? sv(r.model) : model);
    if (std::string_view m = attribute(t, "gen_ai.response.model"); !m.empty()) base.add("gen_ai.response.model", m);
    KeyView duration_key = base;
    if (std::string_view e = attribute(t, "error.type"); !e.empty()) duration_key.add("error.type", e);
    if (Histogram* h = series(&durations_, duration_key, kDurationBounds.size())) {
      h->observe(static_cast<double>(r.spans[i].duration_ns) / 1e9, kDurationBounds.data(), kDurationBounds.size());
    }
    // Token counts only for an attempt that answered, or one that reported what it billed.
    uint64_t in = 0, out = 0;
    bool has_in = parseCount(attribute(t, "gen_ai.usage.input_tokens"), &in);
    bool has_out = parseCount(attribute(t, "gen_ai.usage.output_tokens"), &out);
    if (attribute(t, "outrigger.status") != "OK" && in == 0 && out == 0) continue;
    for (auto [type, value, has] : {std::tuple{"input", in, has_in}, std::tuple{"output", out, has_out}}) {
      if (!has) continue;
      KeyView k = base;
      k.add("gen_ai.token.type", type);
      if (Histogram* h = series(&tokens_, k, kTokenBounds.size())) {
        h->observe(static_cast<double>(value), kTokenBounds.data(), kTokenBounds.size());
      }
    }
  }
}

std::string GenAiMetrics::request(Encoding encoding, std::string_view resource, uint64_t now_unix_ns,
                                  const std::vector<std::pair<std::string, uint64_t>>& span_counters) const {
  if (empty() && span_counters.empty()) return {};
  if (encoding == Encoding::kProtobuf) {
    std::string metrics;
    if (!tokens_.empty()) {
      addHistogram(&metrics, kTokenUsage, tokens_, kTokenBounds, start_unix_ns_, now_unix_ns);
    }
    if (!durations_.empty()) {
      addHistogram(&metrics, kOperationDuration, durations_, kDurationBounds, start_unix_ns_, now_unix_ns);
    }
    if (!span_counters.empty()) addSpanCounters(&metrics, span_counters, start_unix_ns_, now_unix_ns);
    return pb::exportRequest(resource, metrics);
  }
  json::JsonBuffer buf;
  JsonWriter w(buf);
  w.StartArray();
  if (!tokens_.empty()) {
    writeHistogram(w, kTokenUsage, tokens_, kTokenBounds, start_unix_ns_, now_unix_ns);
  }
  if (!durations_.empty()) {
    writeHistogram(w, kOperationDuration, durations_, kDurationBounds, start_unix_ns_, now_unix_ns);
  }
  if (!span_counters.empty()) writeSpanCounters(w, span_counters, start_unix_ns_, now_unix_ns);
  w.EndArray();
  std::string body = R"({"resourceMetrics":[{"resource":)";
  body.append(resource).append(R"(,"scopeMetrics":[{"scope":)").append(scopeJson()).append(R"(,"metrics":)");
  body.append(buf.view()).append("}]}]}");
  return body;
}

}  // namespace outrigger::otlp
