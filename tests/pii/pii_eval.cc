// Precision and recall of guardrail.pii's detection per entity over a labelled corpus
// (make_corpus.py), at the default config. One JSON object per line:
//   {"text": "...", "entities": [{"type": "EMAIL", "start": 3, "end": 20}],
//    "negatives": [{"type": "CREDIT_CARD", "start": 30, "end": 46}]}
// A detection counts when its label and span equal a labelled entity's. A detection touching a
// negative (checksum-broken or out-of-range look-alike) is a hit on an invalid value.
// Exits 1 when a structured entity misses recall 0.99 or precision 0.98, or any negative is hit.
#include <rapidjson/document.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <tuple>

#include "pii_settings.h"

using namespace outrigger::pii;

namespace {

struct Counts {
  uint64_t tp = 0, fp = 0, fn = 0, negative_hits = 0, negatives = 0;
};

using Span = std::tuple<std::string, uint64_t, uint64_t>;

std::set<Span> spans(const rapidjson::Value& doc, const char* key) {
  std::set<Span> out;
  if (!doc.HasMember(key)) return out;
  for (const auto& e : doc[key].GetArray()) out.emplace(e["type"].GetString(), e["start"].GetUint64(), e["end"].GetUint64());
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: pii_eval corpus.jsonl\n");
    return 2;
  }
  std::ifstream in(argv[1]);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", argv[1]);
    return 2;
  }
  PiiSettings settings = parsePiiSettings(R"({"phone_regions": ["US", "GB", "DE", "FR"]})");
  Scanner scanner(settings.detector->database(), settings.max_candidates);
  std::map<std::string, Counts> by_type;
  std::string line;
  size_t records = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    rapidjson::Document doc;
    doc.Parse(line.c_str(), line.size());
    if (doc.HasParseError() || !doc.IsObject()) {
      std::fprintf(stderr, "line %zu is not a JSON object\n", records + 1);
      return 2;
    }
    ++records;
    const std::string text = doc["text"].GetString();
    std::set<Span> truth = spans(doc, "entities"), negatives = spans(doc, "negatives");
    std::vector<Detection> found;
    if (std::string err = settings.detector->detect(scanner, text, &found); !err.empty()) {
      std::fprintf(stderr, "detection failed: %s\n", err.c_str());
      return 2;
    }
    for (const Span& n : negatives) ++by_type[std::get<0>(n)].negatives;
    for (const Detection& d : found) {
      Span s{settings.detector->entity(d.entity).label, d.from, d.to};
      if (truth.erase(s)) {
        ++by_type[std::get<0>(s)].tp;
        continue;
      }
      ++by_type[std::get<0>(s)].fp;
      for (const Span& n : negatives) {
        if (d.from < std::get<2>(n) && std::get<1>(n) < d.to) ++by_type[std::get<0>(n)].negative_hits;
      }
      if (argc > 2) std::fprintf(stderr, "FP %s [%s] in: %s\n", std::get<0>(s).c_str(), text.substr(d.from, d.to - d.from).c_str(), text.c_str());
    }
    for (const Span& missed : truth) {
      ++by_type[std::get<0>(missed)].fn;
      if (argc > 2) std::fprintf(stderr, "FN %s [%s] in: %s\n", std::get<0>(missed).c_str(),
                                 text.substr(std::get<1>(missed), std::get<2>(missed) - std::get<1>(missed)).c_str(), text.c_str());
    }
  }
  static const std::set<std::string> kStructured = {"CREDIT_CARD", "IBAN", "US_SSN", "EMAIL", "PHONE", "OPENAI_KEY",
                                                    "ANTHROPIC_KEY", "AWS_ACCESS_KEY", "AWS_SECRET_KEY", "GITHUB_TOKEN",
                                                    "SLACK_TOKEN", "GOOGLE_API_KEY", "JWT", "PRIVATE_KEY"};
  bool ok = true;
  std::printf("%zu records\n%-16s %7s %7s %7s %9s %7s %10s %12s\n", records, "entity", "tp", "fp", "fn", "precision",
              "recall", "negatives", "neg. hits");
  for (const auto& [type, c] : by_type) {
    const double p = c.tp + c.fp ? double(c.tp) / double(c.tp + c.fp) : 1.0;
    const double r = c.tp + c.fn ? double(c.tp) / double(c.tp + c.fn) : 1.0;
    const bool goal = kStructured.count(type) > 0;
    const bool pass = c.negative_hits == 0 && (!goal || (p >= 0.98 && r >= 0.99));
    ok = ok && pass;
    std::printf("%-16s %7llu %7llu %7llu %9.4f %7.4f %10llu %12llu%s\n", type.c_str(), (unsigned long long)c.tp,
                (unsigned long long)c.fp, (unsigned long long)c.fn, p, r, (unsigned long long)c.negatives,
                (unsigned long long)c.negative_hits, pass ? "" : "   BELOW GOAL");
  }
  std::printf("%s\n", ok ? "all goals met" : "goals missed");
  return ok ? 0 : 1;
}
