// Precision and hit rate of cache.semantic's match rule (cosine similarity of WordLlama's or
// MiniLM's embeddings at a threshold, then the negation and number guard) on labelled question pairs:
// a Quora Question Pairs sample and the hand-written hard set (data/README.md). A pair is a hit
// when the second question would be served the first one's answer; a hit on a pair that is not
// the same question is a wrong hit.
//   semantic_eval MODEL_DIR DATA_DIR [--gate THRESHOLD [--all-floor SHARE]] [--onnx]
// With --onnx, MODEL_DIR holds provider.onnx's all-MiniLM-L6-v2 and ONNX Runtime instead of
// WordLlama's files.
// With --gate, exits 1 unless wrong hits are at most 1% of hits at THRESHOLD (guard on) on the
// hard set, and at most SHARE (default 15%) over all pairs.
#include <rapidjson/document.h>

#include <time.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "query_guard.h"
#include "wordllama_model.h"
#ifdef OUTRIGGER_HAVE_ONNX
#include "sentence_encoder.h"
#endif

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
    std::fprintf(stderr, "usage: semantic_eval MODEL_DIR DATA_DIR [--gate THRESHOLD] [--onnx]\n");
    return 2;
  }
  std::string dir = argv[1], data = argv[2], error;
  bool onnx_model = false;
  for (int i = 3; i < argc; ++i) onnx_model |= std::string(argv[i]) == "--onnx";
  // The model: WordLlama's files in MODEL_DIR, or with --onnx all-MiniLM-L6-v2 and ONNX Runtime
  // there (provider.onnx's fetch_minilm.sh).
  size_t dims = 0;
  std::function<bool(const std::string&, float*)> embed;
  std::unique_ptr<wordllama::WordLlamaModel> wordllama;
#ifdef OUTRIGGER_HAVE_ONNX
  std::unique_ptr<onnx::SentenceEncoder> minilm;
  if (onnx_model) {
    onnx::EncoderOptions o;
    o.runtime_path = dir + "/libonnxruntime.so.1.20.1";
    o.model_path = dir + "/all-minilm-l6-v2-q.onnx";
    o.tokenizer_path = dir + "/all-minilm-l6-v2-q-tokenizer.json";
    minilm = onnx::SentenceEncoder::load(o, &error);
    if (minilm) {
      dims = minilm->dims();
      embed = [&](const std::string& text, float* out) { return minilm->embed(text, out, &error) > 0; };
    }
  }
#endif
  if (!onnx_model) {
    wordllama = wordllama::WordLlamaModel::load(dir + "/l2_supercat_tokenizer_config.json",
                                                dir + "/l2_supercat_256.safetensors", &error);
    if (wordllama) {
      dims = wordllama->dims();
      embed = [&](const std::string& text, float* out) { return wordllama->embed(text, out), true; };
    }
  }
  if (!embed) {
    std::fprintf(stderr, "semantic_eval: %s\n", error.empty() ? "built without provider.onnx" : error.c_str());
    return 2;
  }
  std::vector<Pair> qqp = readPairs(data + "/qqp_sample.jsonl"), hard = readPairs(data + "/hard_pairs.jsonl");
  std::vector<float> va(dims), vb(dims);
  timespec cpu_start{}, cpu_end{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu_start);
  for (auto* set : {&qqp, &hard}) {
    for (Pair& p : *set) {
      if (!embed(p.a, va.data()) || !embed(p.b, vb.data())) {
        std::fprintf(stderr, "semantic_eval: %s\n", error.c_str());
        return 2;
      }
      double dot = 0;
      for (size_t i = 0; i < va.size(); ++i) dot += double(va[i]) * vb[i];
      p.similarity = float(dot);
      p.guard_passes = semantic::guardRefusal(semantic::marksOf(p.a), semantic::marksOf(p.b)).empty();
    }
  }
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu_end);
  double cpu_us = double(cpu_end.tv_sec - cpu_start.tv_sec) * 1e6 + double(cpu_end.tv_nsec - cpu_start.tv_nsec) / 1e3;
  size_t embedded = 2 * (qqp.size() + hard.size());
  std::printf("model: %s, %zu dimensions; CPU per embedding (this thread, guard included): %.1f us over %zu texts\n",
              onnx_model ? "all-MiniLM-L6-v2 int8 (provider.onnx)" : "WordLlama l2_supercat (provider.wordllama)", dims,
              cpu_us / double(embedded), embedded);
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
  double all_floor = 0.15;  // --all-floor: the most wrong hits the gate allows over all pairs
  for (int i = 3; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--all-floor") all_floor = std::atof(argv[i + 1]);
  }
  if (argc >= 5 && std::string(argv[3]) == "--gate") {
    double gate = std::atof(argv[4]);
    Tally t = tally(all, gate, true), h = tally(hard, gate, true);
    std::printf("\ngate at %.2f: wrong / hits %.2f%% over all pairs, %.2f%% on the hand-written set (floors: %.0f%%, 1%%), hit rate %.1f%%\n",
                gate, 100 * t.wrongShare(), 100 * h.wrongShare(), 100 * all_floor, 100 * t.hitRate());
    if (h.wrongShare() > 0.01 || t.wrongShare() > all_floor || h.hits == 0) return 1;
  }
  return 0;
}
