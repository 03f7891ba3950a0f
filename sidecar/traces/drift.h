// Drift: how a route's traffic in a window differs from a baseline (an earlier window of the
// trace store, or an eval run's results), per route and prompt version. Each signal is compared
// the way its kind allows:
//
// | signal              | compared by                                  | drifted when                        |
// | answer_tokens       | population stability index over baseline deciles | PSI >= psi_drifted (0.25)       |
// | latency_ms          | population stability index                   | PSI >= psi_drifted and the median   |
// |                     |                                              | moved min_latency_change_ms         |
// | error_rate          | difference of proportions, Newcombe 95%      | significant and >= min_rate_change  |
// | refusal_rate        | difference of proportions                    | significant and >= min_rate_change  |
// | verdict:<g>/<v>     | difference of proportions, per guardrail and verdict | significant and >= min_rate_change |
// | feedback, judge_score | difference of means, bootstrap 95%         | significant and >= min_score_change |
// | answer_centroid     | cosine distance of the answers' mean embeddings | above centroid_distance and above  |
// |                     |                                              | the baseline's own split-half noise |
//
// A signal with fewer than min_samples on either side is "insufficient", never drifted. A
// prompt version without a baseline of its own is compared with its route's whole baseline (a
// new prompt version is what drift reports are most often asked about). A change of the model
// or the system fingerprint the upstream reports for a target is an event (model_events.h).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "traces/drift_population.h"
#include "traces/model_events.h"
#include "traces/statistics.h"

namespace outrigger::traces {

enum class DriftStatus { kStable, kModerate, kDrifted, kInsufficient };
const char* driftStatusName(DriftStatus s);

struct DriftThresholds {
  double psi_moderate = 0.1, psi_drifted = 0.25;
  double min_rate_change = 0.05;   // a rate must move at least this much (absolute) to drift
  // Sub-millisecond jitter of a fast upstream shifts the latency distribution without meaning
  // anything: the median must move this much too.
  double min_latency_change_ms = 100;
  double min_score_change = 0.1;   // feedback and judge scores, on their 0..1 scale
  double centroid_distance = 0.02; // 1 - cosine of the two answer centroids
  uint32_t min_samples = 30;
  uint32_t max_embedded_answers = 200;  // per window, spread evenly over it
};

struct DriftSignal {
  std::string name;     // answer_tokens, latency_ms, error_rate, ... (table above)
  std::string measure;  // psi | rate | mean | cosine_distance
  double baseline = 0, current = 0;  // medians (psi), rates or means; unused for the centroid
  double value = 0;                  // the PSI, the difference, or the distance
  Interval ci;                       // rates and means: the difference's 95% interval
  double noise = 0;                  // answer_centroid: the baseline's split-half distance (95th percentile)
  uint64_t baseline_n = 0, current_n = 0;
  DriftStatus status = DriftStatus::kStable;
};

struct DriftGroup {
  std::string route, prompt;  // prompt: "id@version", or "" for requests without one
  std::string baseline_scope; // "prompt" (its own baseline) or "route" (the route's)
  uint64_t baseline_requests = 0, current_requests = 0;
  std::vector<DriftSignal> signals;
  DriftStatus status = DriftStatus::kStable;  // the worst of its signals (insufficient counts least)
};

struct DriftReport {
  std::string baseline_source;  // "store" or the eval results' path
  int64_t baseline_since_ns = 0, baseline_until_ns = 0, since_ns = 0, until_ns = 0;
  std::vector<DriftGroup> groups;
  std::vector<ModelEvent> events;  // in the current window
  std::vector<std::string> notes;  // what could not be compared, and why
  // A group drifted, or a target's model changed (a fingerprint change alone is reported only).
  bool drifted() const;
};

// Embeds texts for the centroid (one vector each); nullopt with `error` when it cannot.
using EmbedTexts = std::function<std::optional<std::vector<std::vector<double>>>(const std::vector<std::string>& texts,
                                                                                  std::string* error)>;

// Compares `current` with `baseline`, group by group. `embed` may be empty: no centroid signal.
DriftReport compareWindows(const DriftPopulation& baseline, const DriftPopulation& current,
                           const DriftThresholds& thresholds, const EmbedTexts& embed);

}  // namespace outrigger::traces
