#include "traces/drift.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>

namespace outrigger::traces {
namespace {

using Samples = std::vector<const DriftSample*>;

int severity(DriftStatus s) {
  switch (s) {
    case DriftStatus::kInsufficient: return 0;
    case DriftStatus::kStable: return 1;
    case DriftStatus::kModerate: return 2;
    case DriftStatus::kDrifted: return 3;
  }
  return 0;
}

DriftSignal signalNamed(std::string name, const char* measure) {
  DriftSignal s;
  s.name = std::move(name);
  s.measure = measure;
  return s;
}

template <typename Get>
std::vector<double> column(const Samples& v, Get get) {
  std::vector<double> out;
  for (const DriftSample* x : v) {
    if (auto value = get(*x)) out.push_back(*value);
  }
  return out;
}

// Answer length and latency of the answers given (an error has neither).
// `min_median_change`: the medians must also differ this much for the signal to drift (0: PSI alone).
DriftSignal distributionSignal(const char* name, const Samples& base, const Samples& cur, double DriftSample::*field,
                               double min_median_change, const DriftThresholds& t) {
  auto get = [field](const DriftSample& x) { return x.error ? std::nullopt : std::optional<double>(x.*field); };
  std::vector<double> b = column(base, get), c = column(cur, get);
  DriftSignal s = signalNamed(name, "psi");
  s.baseline_n = b.size();
  s.current_n = c.size();
  s.baseline = median(b);
  s.current = median(c);
  if (b.size() < t.min_samples || c.size() < t.min_samples) {
    s.status = DriftStatus::kInsufficient;
    return s;
  }
  s.value = populationStability(b, c);
  s.status = s.value >= t.psi_drifted    ? DriftStatus::kDrifted
             : s.value >= t.psi_moderate ? DriftStatus::kModerate
                                         : DriftStatus::kStable;
  if (s.status == DriftStatus::kDrifted && std::fabs(s.current - s.baseline) < min_median_change) {
    s.status = DriftStatus::kModerate;
  }
  return s;
}

template <typename Is>
DriftSignal rateSignal(std::string name, const Samples& base, const Samples& cur, Is is, const DriftThresholds& t) {
  uint64_t b = 0, c = 0;
  for (const DriftSample* x : base) b += is(*x);
  for (const DriftSample* x : cur) c += is(*x);
  DriftSignal s = signalNamed(std::move(name), "rate");
  s.baseline_n = base.size();
  s.current_n = cur.size();
  if (base.empty() || cur.empty()) {
    s.status = DriftStatus::kInsufficient;
    return s;
  }
  s.baseline = double(b) / double(base.size());
  s.current = double(c) / double(cur.size());
  Difference d = proportionDifference(c, cur.size(), b, base.size());
  s.value = d.value;
  s.ci = d.ci;
  if (base.size() < t.min_samples || cur.size() < t.min_samples) {
    s.status = DriftStatus::kInsufficient;
  } else if (d.significant) {
    s.status = std::fabs(d.value) >= t.min_rate_change ? DriftStatus::kDrifted : DriftStatus::kModerate;
  }
  return s;
}

DriftSignal meanSignal(const char* name, const std::vector<double>& b, const std::vector<double>& c,
                       const DriftThresholds& t) {
  DriftSignal s = signalNamed(name, "mean");
  s.baseline_n = b.size();
  s.current_n = c.size();
  s.baseline = mean(b);
  s.current = mean(c);
  if (b.size() < t.min_samples || c.size() < t.min_samples) {
    s.status = DriftStatus::kInsufficient;
    return s;
  }
  Difference d = bootstrapDifference(c, b);
  s.value = d.value;
  s.ci = d.ci;
  if (d.significant) s.status = std::fabs(d.value) >= t.min_score_change ? DriftStatus::kDrifted : DriftStatus::kModerate;
  return s;
}

// At most `limit` captured answers, spread evenly over the window.
std::vector<std::string> answersOf(const Samples& v, uint32_t limit) {
  std::vector<std::string> all;
  for (const DriftSample* x : v) {
    if (!x->error && !x->answer.empty()) all.push_back(x->answer);
  }
  return spreadEvenly(all, limit);
}

std::vector<double> centroid(const std::vector<std::vector<double>>& vectors, const std::vector<size_t>& which) {
  std::vector<double> sum;
  for (size_t i : which) {
    const std::vector<double>& v = vectors[i];
    double norm = 0;
    for (double x : v) norm += x * x;
    norm = std::sqrt(norm);
    if (norm == 0) continue;
    if (sum.empty()) sum.assign(v.size(), 0);
    for (size_t k = 0; k < v.size() && k < sum.size(); ++k) sum[k] += v[k] / norm;
  }
  return sum;
}

double cosineDistance(const std::vector<double>& a, const std::vector<double>& b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) dot += a[i] * b[i], na += a[i] * a[i], nb += b[i] * b[i];
  if (na == 0 || nb == 0) return 0;
  return 1 - dot / std::sqrt(na * nb);
}

// The centroids of both windows' answers; the noise is how far apart two random halves of the
// baseline are (95th percentile of 50 splits), the distance that means nothing by itself.
std::optional<DriftSignal> centroidSignal(const Samples& base, const Samples& cur, const DriftThresholds& t,
                                          const EmbedTexts& embed, std::string* note) {
  std::vector<std::string> b = answersOf(base, t.max_embedded_answers), c = answersOf(cur, t.max_embedded_answers);
  DriftSignal s = signalNamed("answer_centroid", "cosine_distance");
  s.baseline_n = b.size();
  s.current_n = c.size();
  if (b.size() < t.min_samples || c.size() < t.min_samples) {
    if (b.empty() && c.empty()) return std::nullopt;  // the route captures no answers
    s.status = DriftStatus::kInsufficient;
    return s;
  }
  std::vector<std::string> texts = b;
  texts.insert(texts.end(), c.begin(), c.end());
  std::string error;
  auto vectors = embed(texts, &error);
  if (!vectors || vectors->size() != texts.size()) {
    *note = "answer_centroid not compared: " + (error.empty() ? std::string("the embeddings did not match the answers") : error);
    return std::nullopt;
  }
  std::vector<size_t> bi(b.size()), ci(c.size());
  for (size_t i = 0; i < b.size(); ++i) bi[i] = i;
  for (size_t i = 0; i < c.size(); ++i) ci[i] = b.size() + i;
  s.value = cosineDistance(centroid(*vectors, bi), centroid(*vectors, ci));
  std::mt19937_64 rng(3);
  std::vector<double> splits;
  for (int round = 0; round < 50; ++round) {
    std::vector<size_t> shuffled = bi;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    std::vector<size_t> left(shuffled.begin(), shuffled.begin() + long(shuffled.size() / 2));
    std::vector<size_t> right(shuffled.begin() + long(shuffled.size() / 2), shuffled.end());
    splits.push_back(cosineDistance(centroid(*vectors, left), centroid(*vectors, right)));
  }
  std::sort(splits.begin(), splits.end());
  s.noise = splits[size_t(0.95 * double(splits.size()))];
  bool far = s.value > t.centroid_distance, beyond_noise = s.value > s.noise;
  s.status = far && beyond_noise ? DriftStatus::kDrifted : far || beyond_noise ? DriftStatus::kModerate : DriftStatus::kStable;
  return s;
}

DriftGroup compareGroup(const std::string& route, const std::string& prompt, const Samples& base, bool own_baseline,
                        const Samples& cur, const DriftPopulation& baseline, const DriftThresholds& t,
                        const EmbedTexts& embed, std::vector<std::string>* notes) {
  DriftGroup g;
  g.route = route;
  g.prompt = prompt;
  g.baseline_scope = own_baseline ? "prompt" : "route";
  g.baseline_requests = base.size();
  g.current_requests = cur.size();
  g.signals.push_back(distributionSignal("answer_tokens", base, cur, &DriftSample::answer_tokens, 0, t));
  g.signals.push_back(distributionSignal("latency_ms", base, cur, &DriftSample::latency_ms, t.min_latency_change_ms, t));
  g.signals.push_back(rateSignal("error_rate", base, cur, [](const DriftSample& x) { return x.error; }, t));
  if (baseline.refusals_known) {
    g.signals.push_back(rateSignal("refusal_rate", base, cur, [](const DriftSample& x) { return x.refusal; }, t));
  }
  if (baseline.verdicts_known) {
    std::set<std::string> kinds;
    for (const Samples* side : {&base, &cur}) {
      for (const DriftSample* x : *side) kinds.insert(x->verdicts.begin(), x->verdicts.end());
    }
    for (const std::string& kind : kinds) {
      auto has = [&kind](const DriftSample& x) {
        return std::find(x.verdicts.begin(), x.verdicts.end(), kind) != x.verdicts.end();
      };
      g.signals.push_back(rateSignal("verdict:" + kind, base, cur, has, t));
    }
  }
  auto feedback = [](const DriftSample& x) { return x.feedback; };
  std::vector<double> fb = column(base, feedback), fc = column(cur, feedback);
  if (!fb.empty() || !fc.empty()) g.signals.push_back(meanSignal("feedback", fb, fc, t));
  auto judge = [](const DriftSample& x) { return x.judge; };
  std::vector<double> jb = column(base, judge), jc = column(cur, judge);
  if (!jb.empty() || !jc.empty()) g.signals.push_back(meanSignal("judge_score", jb, jc, t));
  if (embed) {
    std::string note;
    if (auto s = centroidSignal(base, cur, t, embed, &note)) g.signals.push_back(std::move(*s));
    if (!note.empty()) notes->push_back(route + (prompt.empty() ? "" : " " + prompt) + ": " + note);
  }
  g.status = DriftStatus::kInsufficient;
  for (const DriftSignal& s : g.signals) {
    if (severity(s.status) > severity(g.status)) g.status = s.status;
  }
  return g;
}

}  // namespace

const char* driftStatusName(DriftStatus s) {
  switch (s) {
    case DriftStatus::kStable: return "stable";
    case DriftStatus::kModerate: return "moderate";
    case DriftStatus::kDrifted: return "drifted";
    case DriftStatus::kInsufficient: return "insufficient";
  }
  return "unknown";
}

bool DriftReport::drifted() const {
  for (const DriftGroup& g : groups) {
    if (g.status == DriftStatus::kDrifted) return true;
  }
  for (const ModelEvent& e : events) {
    if (e.kind == "model") return true;
  }
  return false;
}

DriftReport compareWindows(const DriftPopulation& baseline, const DriftPopulation& current,
                           const DriftThresholds& thresholds, const EmbedTexts& embed) {
  DriftReport report;
  std::map<std::pair<std::string, std::string>, Samples> base_groups, cur_groups;
  std::map<std::string, Samples> base_routes;
  for (const DriftSample& x : baseline.samples) {
    base_groups[{x.route, x.prompt}].push_back(&x);
    base_routes[x.route].push_back(&x);
  }
  for (const DriftSample& x : current.samples) cur_groups[{x.route, x.prompt}].push_back(&x);
  for (const auto& [key, cur] : cur_groups) {
    const auto& [route, prompt] = key;
    auto own = base_groups.find(key);
    bool own_baseline = own != base_groups.end() && own->second.size() >= thresholds.min_samples;
    auto whole = base_routes.find(route);
    if (!own_baseline && whole == base_routes.end()) {
      report.notes.push_back(route + ": no baseline requests for this route");
      continue;
    }
    // An eval run's cases name no prompt version: the route's cases are every version's baseline.
    const Samples& base = own_baseline ? own->second : whole->second;
    report.groups.push_back(
        compareGroup(route, prompt, base, own_baseline, cur, baseline, thresholds, embed, &report.notes));
  }
  for (const auto& [route, base] : base_routes) {
    bool seen = std::any_of(cur_groups.begin(), cur_groups.end(), [&](const auto& g) { return g.first.first == route; });
    if (!seen) report.notes.push_back(route + ": no requests in the current window");
  }
  return report;
}

}  // namespace outrigger::traces
