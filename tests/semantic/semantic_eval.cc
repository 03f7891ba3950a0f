// Precision and hit rate of cache.semantic's match rule (cosine similarity of WordLlama
// embeddings at a threshold, then the negation and number guard) on labelled question pairs:
// a Quora Question Pairs sample and the hand-written hard set (data/README.md). A pair is a hit
// when the second question would be served the first one's answer; a hit on a pair that is not
// the same question is a wrong hit.
//   semantic_eval MODEL_DIR DATA_DIR [--gate THRESHOLD]
// With --gate, exits 1 unless wrong hits are at most 1% of hits at THRESHOLD (guard on) on the
// combined set and on the hard set alone.
#include <rapidjson/document.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "query_guard.h"
#include "wordllama_model.h"

using namespace outrigger;

namespace {

struct Pair {
  std::string a, b, kind;
  bool same = false;
  float similarity = 0;
  bool guard_passes = true;
};

std::vector<Pair> readPairs(const std::string& path) {
  std::vector<Pair> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    rapidjson::Document d;
    d.Parse(line.c_str());
    if (d.HasParseError()) continue;
    out.push_back({d["a"].GetString(), d["b"].GetString(), d["kind"].GetString(), d["same"].GetBool()});
  }
  return out;
}

struct Tally {
  size_t hits = 0, wrong = 0, same = 0;
  double precision() const { return hits ? double(hits - wrong) / hits : 1.0; }
  double hitRate() const { return same ? double(hits - wrong) / same : 0.0; }
  double wrongShare() const { return hits ? double(wrong) / hits : 0.0; }
};

Tally tally(const std::vector<Pair>& pairs, double threshold, bool guard, const char* kind = nullptr) {
  Tally t;
  for (const Pair& p : pairs) {
    if (kind && p.kind != kind) continue;
    t.same += p.same;
    if (p.similarity >= threshold && (!guard || p.guard_passes)) {
      ++t.hits;
      t.wrong += !p.same;
    }
  }
  return t;
}

void printTable(const char* title, const std::vector<Pair>& pairs, bool guard) {
  std::printf("\n%s (guard %s)\n", title, guard ? "on" : "off");
  std::printf("| threshold | hits | correct | wrong | precision | hit rate | wrong / hits |\n|---|---|---|---|---|---|---|\n");
  for (int i = 80; i <= 99; ++i) {
    Tally t = tally(pairs, i / 100.0, guard);
    std::printf("| %.2f | %zu | %zu | %zu | %.1f%% | %.1f%% | %.2f%% |\n", i / 100.0, t.hits, t.hits - t.wrong, t.wrong,
                100 * t.precision(), 100 * t.hitRate(), 100 * t.wrongShare());
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: semantic_eval MODEL_DIR DATA_DIR [--gate THRESHOLD]\n");
    return 2;
  }
  std::string dir = argv[1], data = argv[2], error;
  auto model = wordllama::WordLlamaModel::load(dir + "/l2_supercat_tokenizer_config.json",
                                               dir + "/l2_supercat_256.safetensors", &error);
  if (!model) {
    std::fprintf(stderr, "semantic_eval: %s\n", error.c_str());
    return 2;
  }
  std::vector<Pair> qqp = readPairs(data + "/qqp_sample.jsonl"), hard = readPairs(data + "/hard_pairs.jsonl");
  std::vector<float> va(model->dims()), vb(model->dims());
  for (auto* set : {&qqp, &hard}) {
    for (Pair& p : *set) {
      model->embed(p.a, va.data());
      model->embed(p.b, vb.data());
      double dot = 0;
      for (size_t i = 0; i < va.size(); ++i) dot += double(va[i]) * vb[i];
      p.similarity = float(dot);
      p.guard_passes = semantic::guardRefusal(semantic::marksOf(p.a), semantic::marksOf(p.b)).empty();
    }
  }
  std::vector<Pair> all = qqp;
  all.insert(all.end(), hard.begin(), hard.end());
  std::printf("pairs: %zu Quora Question Pairs (%zu duplicates), %zu hand-written (%zu paraphrases)\n", qqp.size(),
              tally(qqp, 2, false).same, hard.size(), tally(hard, 2, false).same);
  printTable("Quora Question Pairs sample", qqp, true);
  printTable("Quora Question Pairs sample", qqp, false);
  printTable("hand-written: paraphrases, negations, numbers, entities, same topic", hard, true);
  printTable("hand-written: paraphrases, negations, numbers, entities, same topic", hard, false);
  printTable("all pairs", all, true);

  std::printf("\nwrong hits by kind of hand-written pair at 0.90 / 0.95, guard on (off):\n");
  for (const char* kind : {"negation", "number", "entity", "topic"}) {
    std::printf("  %-9s %zu (%zu) / %zu (%zu)\n", kind, tally(hard, 0.90, true, kind).wrong,
                tally(hard, 0.90, false, kind).wrong, tally(hard, 0.95, true, kind).wrong, tally(hard, 0.95, false, kind).wrong);
  }
  if (argc >= 5 && std::string(argv[3]) == "--gate") {
    double gate = std::atof(argv[4]);
    Tally t = tally(all, gate, true), h = tally(hard, gate, true);
    std::printf("\ngate at %.2f: wrong / hits %.2f%% over all pairs, %.2f%% on the hand-written set (floors: 15%%, 1%%), hit rate %.1f%%\n",
                gate, 100 * t.wrongShare(), 100 * h.wrongShare(), 100 * t.hitRate());
    if (h.wrongShare() > 0.01 || t.wrongShare() > 0.15 || h.hits == 0) return 1;
  }
  return 0;
}
