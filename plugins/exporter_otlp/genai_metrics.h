// The GenAI client metrics of the OpenTelemetry semantic conventions, aggregated from finished
// requests and written as an OTLP ExportMetricsServiceRequest (protobuf or JSON, cumulative temporality):
//
//   gen_ai.client.token.usage        histogram {token}, one point per attempt and token type
//                                    (gen_ai.token.type input | output), buckets 1, 4 ... 67108864
//   gen_ai.client.operation.duration histogram s, one point per attempt, buckets 0.01 ... 81.92
//
// Both carry gen_ai.operation.name, gen_ai.provider.name, gen_ai.request.model and
// gen_ai.response.model (when known); the duration carries error.type when the attempt failed.
// The exporter's own span counters ride along as the monotonic sum outrigger.otlp.spans.
// Series are bounded (max_series): a measurement that would open one more goes to its metric's
// overflow series (otel.metric.overflow = true, no other attribute: token types and models mix
// there, the totals stay whole), and such measurements are counted. Not thread-safe: the
// exporter thread owns it.
#pragma once

#include <outrigger/plugin.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "otlp_encoding.h"
#include "otlp_json.h"

namespace outrigger::otlp {

inline constexpr std::array<double, 14> kTokenBounds = {1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144,
                                                        1048576, 4194304, 16777216, 67108864};
inline constexpr std::array<double, 14> kDurationBounds = {0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64,
                                                           1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92};

// One explicit-bucket histogram series.
struct Histogram {
  std::vector<uint64_t> buckets;  // bounds.size() + 1
  uint64_t count = 0;
  double sum = 0, min = 0, max = 0;

  void observe(double value, const double* bounds, size_t bound_count);
};

// The attribute of the series that counts what the series bound kept out (a boolean, true).
inline constexpr std::string_view kOverflowAttribute = "otel.metric.overflow";

class GenAiMetrics {
 public:
  explicit GenAiMetrics(uint64_t start_unix_ns, size_t max_series = 2048)
      : start_unix_ns_(start_unix_ns), max_series_(max_series) {}

  // Counts every provider attempt of the record.
  void observe(const outrigger_record_view& record);

  // An ExportMetricsServiceRequest in `encoding` (`resource` in the same, encodedResource) with
  // every series so far, stamped `now_unix_ns`, and the counters given (name of the `outcome`
  // attribute -> value) as outrigger.otlp.spans. Empty when there is nothing to send.
  std::string request(Encoding encoding, std::string_view resource, uint64_t now_unix_ns,
                      const std::vector<std::pair<std::string, uint64_t>>& span_counters) const;

  // Measurements (a duration, input tokens, output tokens) counted in an overflow series.
  uint64_t refusedSeries() const { return refused_series_; }
  bool empty() const { return tokens_.empty() && durations_.empty(); }

 private:
  using Key = StringAttributes;  // sorted by key: the series identity
  // A series' attributes as views into the record, sorted: what a lookup builds, so counting an
  // attempt in a series that exists allocates nothing.
  struct KeyView {
    std::array<std::pair<std::string_view, std::string_view>, 6> items;
    size_t size = 0;
    void add(std::string_view key, std::string_view value) {
      assert(size < items.size());  // five at most today: three base keys, response model, one more
      items[size++] = {key, value};
    }
    const std::pair<std::string_view, std::string_view>* begin() const { return items.data(); }
    const std::pair<std::string_view, std::string_view>* end() const { return items.data() + size; }
  };
  // Orders keys and key views alike (pair by pair, as strings), so maps find by either.
  struct KeyLess {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
        std::string_view xk = x.first, yk = y.first;
        return xk != yk ? xk < yk : std::string_view(x.second) < std::string_view(y.second);
      });
    }
  };
  using Family = std::map<Key, Histogram, KeyLess>;
  Histogram* series(Family* family, KeyView key, size_t bound_count);

  uint64_t start_unix_ns_;
  size_t max_series_;
  uint64_t refused_series_ = 0;
  Family tokens_;
  Family durations_;
};

}  // namespace outrigger::otlp
