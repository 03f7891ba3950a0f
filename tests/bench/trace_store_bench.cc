// How fast exporter.sqlite's writer stores records, alone on one thread: records a second and
// bytes a record for a default-chain request (a guardrail on each side, one provider attempt),
// committed in batches as the exporter commits them, into a fresh store and into one that already
// holds a million requests' worth of trace ids. Then the steady state of a store at its size
// bound (the default 256 MiB), where retention deletes as many requests as are written, as the
// exporter runs it (a commit and a retention run every --batch records), with each page cache
// size of --cache-mib in turn: records a second, and the pages read back from the file.
//   trace_store_bench [--records N] [--batch N] [--full no] [--bounded no] [--cache-mib 8,16,32]
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "support/daemon_process.h"
#include "telemetry/record_view.h"
#include "trace_writer.h"

using namespace outrigger;
using namespace std::chrono;

namespace {

std::string hex(std::mt19937_64& rng, int digits) {
  static const char* kHex = "0123456789abcdef";
  std::string s(static_cast<size_t>(digits), '0');
  for (char& c : s) c = kHex[rng() & 15];
  return s;
}

telemetry::SpanRecord span(const std::string& stage, const std::string& instance, const std::string& outcome,
                           std::string id, const std::string& root, uint64_t start, telemetry::Attributes a) {
  telemetry::SpanRecord s{stage, instance, 0, 35000, outcome};
  s.span_id = std::move(id);
  s.parent_span_id = root;
  s.start_unix_ns = start;
  s.attributes = std::move(a);
  return s;
}

// What the default chain's record holds: the same spans and attributes the host sets.
telemetry::RequestRecord defaultChainRecord(std::mt19937_64& rng, uint64_t start) {
  telemetry::RequestRecord r;
  r.trace_id = hex(rng, 32);
  r.root_span_id = hex(rng, 16);
  r.route_name = "default";
  r.provider = "mock";
  r.model = "mock-1";
  r.metadata.tenant = "acme";
  r.start_unix_ns = start;
  r.duration_ns = 180000;
  r.finish_reason = "stop";
  r.usage.prompt_tokens = 11;
  r.usage.completion_tokens = 11;
  r.spans = {span("guardrail.request", "input_rules", "continue", hex(rng, 16), r.root_span_id, start + 20000,
                  {{"outrigger.guardrail.verdict", "pass"}, {"outrigger.guardrail.source", "input"}}),
             span("resilience", "mock/*", "attempt 1 on mock/*", hex(rng, 16), r.root_span_id, start + 58000, {}),
             span("provider", "mock", "ok", hex(rng, 16), r.root_span_id, start + 64000,
                  {{"outrigger.cost.source", "table"}, {"outrigger.cost.price", "mock/*"}, {"outrigger.status", "OK"},
                   {"gen_ai.response.model", "mock-1"}, {"gen_ai.usage.input_tokens", "11"},
                   {"gen_ai.usage.output_tokens", "11"}, {"outrigger.cost_usd", "0"},
                   {"gen_ai.operation.name", "chat"}, {"gen_ai.provider.name", "mock"},
                   {"gen_ai.request.model", "default"}, {"outrigger.target", "mock/*"}}),
             span("guardrail.response", "input_rules", "continue", hex(rng, 16), r.root_span_id, start + 138000,
                  {{"outrigger.guardrail.verdict", "pass"}, {"outrigger.guardrail.source", "model_response"}})};
  r.verdicts = {{"input_rules", VerdictKind::kPass, ""}};
  return r;
}

// Writes `n` records in batches of `batch`, each batch committed and, with `retention`, followed
// by a retention run as the exporter runs it; records a second.
double run(traces::TraceWriter& writer, std::mt19937_64& rng, uint64_t n, uint64_t batch, uint64_t* clock,
           const traces::Retention* retention = nullptr) {
  std::vector<telemetry::RequestRecord> records;
  for (uint64_t i = 0; i < n; ++i) records.push_back(defaultChainRecord(rng, (*clock += 20000)));
  std::string error;
  traces::RetentionResult deleted;
  auto t0 = steady_clock::now();
  for (uint64_t i = 0; i < n; ++i) {
    telemetry::RecordView view(records[i]);
    bool ok = writer.writeRequest(*view.get(), &error);
    if (ok && (i + 1) % batch == 0) {
      ok = writer.commit(&error) &&
           (!retention || writer.enforce(*retention, static_cast<int64_t>(*clock), &deleted, &error,
                                         traces::TraceWriter::kRetentionRowsPerRun));
    }
    if (!ok) {
      std::fprintf(stderr, "%s\n", error.c_str());
      std::exit(1);
    }
  }
  writer.commit(&error);
  return static_cast<double>(n) / duration<double>(steady_clock::now() - t0).count();
}

// A store kept at the default bound, with a `cache_mib` page cache: fills it, then times `n`
// more records written with retention on.
void boundedStore(uint32_t cache_mib, uint64_t n, uint64_t batch) {
  std::string dir = testing::makeTempDir();
  std::string error;
  auto writer = traces::TraceWriter::open(dir + "/traces.db", true, cache_mib, &error);
  if (!writer) {
    std::fprintf(stderr, "%s\n", error.c_str());
    std::exit(1);
  }
  traces::Retention retention;
  retention.max_bytes = 256ull << 20;
  std::mt19937_64 rng(11);
  uint64_t clock = 1800000000000000000;
  while (writer->usedBytes() < retention.max_bytes) run(*writer, rng, 20000, batch, &clock);
  run(*writer, rng, n / 2, batch, &clock, &retention);  // retention's first rounds
  int read_before = 0, read_after = 0, ignored = 0;
  sqlite3_db_status(writer->handle(), SQLITE_DBSTATUS_CACHE_MISS, &read_before, &ignored, 0);
  double rate = run(*writer, rng, n, batch, &clock, &retention);
  sqlite3_db_status(writer->handle(), SQLITE_DBSTATUS_CACHE_MISS, &read_after, &ignored, 0);
  std::printf("at the bound, %4u MiB cache: %9.0f records/s, %6.2f pages read a record (store %.0f MiB)\n",
              cache_mib, rate, static_cast<double>(read_after - read_before) / static_cast<double>(n),
              static_cast<double>(writer->usedBytes()) / (1 << 20));
  writer.reset();
  outrigger::testing::removeTempDir(dir);
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t n = 200000, batch = 1000;
  bool full_store = true, bounded = true;
  std::vector<uint32_t> cache_sizes = {8, 16, 32};
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--records") n = std::strtoull(argv[i + 1], nullptr, 10);
    else if (a == "--batch") batch = std::max<uint64_t>(1, std::strtoull(argv[i + 1], nullptr, 10));
    else if (a == "--full") full_store = std::string(argv[i + 1]) != "no";
    else if (a == "--bounded") bounded = std::string(argv[i + 1]) != "no";
    else if (a == "--cache-mib") {
      cache_sizes.clear();
      std::stringstream list(argv[i + 1]);
      for (std::string mib; std::getline(list, mib, ',');) {
        cache_sizes.push_back(static_cast<uint32_t>(std::stoul(mib)));
      }
    }
  }
  std::string dir = testing::makeTempDir();
  std::string path = dir + "/traces.db";
  std::string error;
  auto writer = traces::TraceWriter::open(path, true, traces::TraceWriter::kDefaultCacheMib, &error);
  if (!writer) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  std::mt19937_64 rng(7);
  uint64_t clock = 1800000000000000000;
  std::printf("trace store writer: default-chain records, commits every %llu\n", static_cast<unsigned long long>(batch));
  double fresh = run(*writer, rng, n, batch, &clock);
  uint64_t bytes = writer->usedBytes();
  std::printf("fresh store:        %9.0f records/s, %6.0f bytes/record; the log emptied for %llu commits (%llu "
              "waited in vain)\n",
              fresh, static_cast<double>(bytes) / n, static_cast<unsigned long long>(writer->logResets()),
              static_cast<unsigned long long>(writer->logResetsFailed()));
  if (full_store) {
    for (uint64_t filled = n; filled < 1000000; filled += n) run(*writer, rng, n, batch, &clock);
    double full = run(*writer, rng, n, batch, &clock);
    std::printf("after 1M requests:  %9.0f records/s (store %.0f MiB)\n", full,
                static_cast<double>(writer->usedBytes()) / (1 << 20));
  }
  writer.reset();
  outrigger::testing::removeTempDir(dir);
  // A commit and a retention run a second at 5,000 requests a second, as the exporter runs them.
  if (bounded) {
    for (uint32_t mib : cache_sizes) boundedStore(mib, n, 5000);
  }
  return 0;
}
