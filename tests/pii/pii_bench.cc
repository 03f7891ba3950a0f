// guardrail.pii's detection throughput on one core: MB of a mixed corpus (bench_corpus.jsonl:
// chat-sized prose, one text in ten with personal data or secrets) per second of this thread's
// CPU time, so other work on a shared machine does not count against it; unary and streamed in
// 64-byte chunks. Prints figures; asserts nothing.
#include <rapidjson/document.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <string>

#include "pii_settings.h"
#include "stream_redactor.h"

using namespace outrigger::pii;

namespace {

double threadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: pii_bench corpus.jsonl [seconds] [config json]\n");
    return 2;
  }
  std::ifstream in(argv[1]);
  std::vector<std::string> texts;
  std::string line;
  size_t bytes = 0;
  while (std::getline(in, line)) {
    rapidjson::Document doc;
    doc.Parse(line.c_str(), line.size());
    if (doc.HasParseError() || !doc.IsObject()) continue;
    texts.emplace_back(doc["text"].GetString());
    bytes += texts.back().size();
  }
  if (texts.empty()) return 2;
  const double seconds = argc > 2 ? std::atof(argv[2]) : 2.0;
  PiiSettings settings = parsePiiSettings(argc > 3 ? argv[3] : "{}");
  Scanner scanner(settings.detector->database(), settings.max_candidates);
  Redactor redactor(*settings.detector, settings.response_policy);

  auto run = [&](const char* what, auto&& once) {
    size_t done = 0, detections = 0;
    const double start = threadCpuSeconds();
    double elapsed = 0;
    while (elapsed < seconds) {
      for (const std::string& t : texts) detections += once(t);
      done += bytes;
      elapsed = threadCpuSeconds() - start;
    }
    std::printf("%-28s %8.1f MB/s per core  (%zu texts, %.1f KB, %zu detections per pass)\n", what,
                double(done) / elapsed / 1e6, texts.size(), double(bytes) / 1e3, detections / (done / bytes));
  };
  run("detect (unary)", [&](const std::string& t) {
    std::vector<Detection> found;
    (void)settings.detector->detect(scanner, t, &found);
    return found.size();
  });
  run("detect + redact (unary)", [&](const std::string& t) {
    std::vector<Detection> found;
    (void)settings.detector->detect(scanner, t, &found);
    PlaceholderBook book;
    Outcome o;
    std::string out;
    redactor.apply(t, 0, 0, t.size(), found, book, false, &out, &o);
    return found.size();
  });
  run("streamed, 64-byte chunks", [&](const std::string& t) {
    PlaceholderBook book;
    StreamRedactor s(*settings.detector, redactor, book, false);
    (void)s.start(scanner);
    std::string out;
    Outcome o;
    for (size_t at = 0; at < t.size(); at += 64) (void)s.feed(scanner, std::string_view(t).substr(at, 64), &out, &o);
    (void)s.finish(scanner, &out, &o);
    size_t n = 0;
    for (uint64_t c : o.per_entity) n += c;
    return n;
  });
  return 0;
}
