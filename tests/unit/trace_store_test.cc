// The local trace store: exporter.sqlite loaded through the real loader and fed the host's views
// of records and feedback, then read back with the queries `outrigger traces` and /traces use:
// filters, one trace across two requests as a tree of ids, percentiles, error and refusal rates,
// content only as captured, feedback only from the trace's tenant, eval capture's cases, retention
// by age and by size, and stores this build cannot read.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <chrono>
#include <fstream>
#include <limits>
#include <set>
#include <thread>

#include <sys/stat.h>

#include "chain/host_api.h"
#include "full_disk_vfs.h"
#include "chain/owned_messages.h"
#include "plugin/instance.h"
#include "plugin/loader.h"
#include "support/daemon_process.h"
#include "telemetry/record_content.h"
#include "telemetry/record_view.h"
#include "trace_writer.h"
#include "traces/arm_comparison.h"
#include "traces/dataset_capture.h"
#include "traces/drift_population.h"
#include "traces/trace_json.h"
#include "traces/trace_query.h"
#include "traces/trace_store.h"

using namespace outrigger;

namespace {

constexpr uint64_t kT0 = 1800000000000000000;  // 2027-01-15, a fixed wall clock

struct Store {
  std::string path = testing::makeTempDir() + "/state/traces.db";
  std::shared_ptr<plugin::PluginInstance> inst;

  explicit Store(const std::string& extra_config = "") {
    auto types = plugin::loadLibrary(std::string(OUTRIGGER_PLUGIN_DIR) + "/exporter_sqlite.so");
    REQUIRE(types.ok());
    REQUIRE(types.value().size() == 1);
    config::InstanceSettings s{"traces", "exporter", "sqlite",
                               R"({"path": ")" + path + "\"" + extra_config + "}", config::OnError::kSkip, "t:1", {}};
    auto created = plugin::PluginInstance::create(*types.value()[0], s, chain::hostApiTemplate());
    REQUIRE(created.ok());
    inst = created.value();
  }
  void add(const telemetry::RequestRecord& r) {
    telemetry::RecordView view(r);
    REQUIRE(inst->exporter()->export_record(inst->handle(), view.get()) == OUTRIGGER_OK);
  }
  void flush() { REQUIRE(inst->exporter()->flush(inst->handle()) == OUTRIGGER_OK); }
  traces::Database reader() {
    flush();
    std::string error;
    traces::Database db = traces::openStoreForReading(path, &error);
    INFO(error);
    REQUIRE(db);
    return db;
  }
};

telemetry::SpanRecord span(const std::string& stage, const std::string& instance, const std::string& outcome,
                           const std::string& id, const std::string& parent, uint64_t start,
                           telemetry::Attributes attributes = {}) {
  telemetry::SpanRecord s{stage, instance, 0, 1000, outcome};
  s.span_id = id;
  s.parent_span_id = parent;
  s.start_unix_ns = start;
  s.attributes = std::move(attributes);
  return s;
}

// A request on `route` for `tenant`, `ms` long, whose provider attempt used 10 + 5 tokens.
telemetry::RequestRecord request(const std::string& trace, const std::string& root, const std::string& route,
                                 const std::string& tenant, uint64_t start, uint64_t ms, Code code = Code::kOk) {
  telemetry::RequestRecord r;
  r.trace_id = trace;
  r.route_name = route;
  r.provider = "openai";
  r.model = "gpt-4o-mini";
  r.metadata.tenant = tenant;
  r.metadata.prompt_id = "greeting";
  r.metadata.prompt_version = "3";
  r.metadata.tags = {{"team", "search"}};
  r.start_unix_ns = start;
  r.duration_ns = ms * 1000000;
  r.code = code;
  r.finish_reason = code == Code::kOk ? "stop" : "";
  r.message = code == Code::kOk ? "" : "upstream failed";
  r.usage.prompt_tokens = 10;
  r.usage.completion_tokens = 5;
  r.cost_usd = 0.000015;
  r.root_span_id = root;
  r.spans = {span("guardrail.request", "input_rules", "continue", root.substr(0, 8) + "00000001", root, start + 10,
                  {{"outrigger.guardrail.verdict", "pass"}}),
             span("provider", "openai", code == Code::kOk ? "ok" : "error", root.substr(0, 8) + "00000002", root,
                  start + 100,
                  {{"gen_ai.operation.name", "chat"}, {"gen_ai.provider.name", "openai"},
                   {"gen_ai.request.model", "gpt-4o-mini"}, {"outrigger.target", "openai/gpt-4o-mini"},
                   {"outrigger.status", code == Code::kOk ? "OK" : "UNAVAILABLE"},
                   {"gen_ai.usage.input_tokens", "10"}, {"gen_ai.usage.output_tokens", "5"},
                   {"outrigger.cost_usd", "1.5e-05"}})};
  r.verdicts = {{"input_rules", VerdictKind::kPass, ""}};
  return r;
}

void addFeedback(Store& store, const std::string& trace, double score, const std::string& tenant) {
  telemetry::FeedbackRecord fb;
  fb.trace_id = trace;
  fb.score = score;
  fb.metadata.tenant = tenant;
  fb.received_unix_ns = kT0 + 9000000000;
  telemetry::FeedbackView view(fb);
  REQUIRE(store.inst->exporter()->export_feedback(store.inst->handle(), view.get()) == OUTRIGGER_OK);
}

// `r` with `text` as its prompt, captured as the route's `capture` and the guardrails allow.
// `vetted` false: a prompt a guardrail stopped, so its request's answer never reached the client.
void capturePrompt(telemetry::RequestRecord* r, const std::string& text, bool vetted = true) {
  outrigger_message_view m{{"user", 4}, {text.data(), text.size()}, {nullptr, 0}, {nullptr, 0}, nullptr, 0};
  telemetry::CaptureLimits limits;
  limits.prompt_vetted = vetted;
  limits.answer_shown = vetted;
  telemetry::captureContent(r, config::Capture::kFull, &m, 1, "an answer", {}, limits);
}

// eval capture's cases from the store, as `o` picks them.
traces::CaptureReport capture(sqlite3* db, traces::CaptureOptions o, std::vector<traces::CapturedCase>* cases) {
  std::set<std::string> known;
  traces::CaptureReport report;
  std::string error;
  bool ok = traces::captureCases(db, o, &known, cases, &report, &error);
  INFO(error);
  REQUIRE(ok);
  return report;
}

std::vector<traces::RequestRow> list(sqlite3* db, traces::TraceFilter f) {
  std::vector<traces::RequestRow> rows;
  std::string error;
  REQUIRE(traces::listRequests(db, f, {}, &rows, &error));
  return rows;
}

int64_t count(sqlite3* db, const std::string& sql) {
  traces::Statement s(db, sql);
  REQUIRE(s.ok());
  REQUIRE(s.step() == SQLITE_ROW);
  return s.columnInt(0);
}

std::unique_ptr<traces::TraceWriter> openWriter(const std::string& path) {
  std::string error;
  auto writer = traces::TraceWriter::open(path, true, traces::TraceWriter::kDefaultCacheMib, &error);
  INFO(error);
  REQUIRE(writer);
  return writer;
}

// Request number `n` with a captured 4,000-byte answer, written into the writer's open transaction.
void writeWithAnswer(traces::TraceWriter& writer, uint64_t n) {
  static const std::string big(4000, 'y');
  auto r = request("ab" + std::to_string(100000 + n), "ac" + std::to_string(100000 + n), "chat", "acme", kT0 + n, 5);
  r.capture = config::Capture::kFull;
  r.answer = big;
  telemetry::RecordView view(r);
  std::string error;
  REQUIRE(writer.writeRequest(*view.get(), &error));
}

}  // namespace

TEST_CASE("trace store: requests, attempts, verdicts and metadata read back, filtered and newest first") {
  Store store;
  store.add(request("aaaa0000000000000000000000000001", "a000000000000001", "chat", "acme", kT0, 12));
  auto failed = request("aaaa0000000000000000000000000002", "a000000000000002", "chat", "beta", kT0 + 1000000000, 40,
                        Code::kUnavailable);
  store.add(failed);
  auto denied = request("aaaa0000000000000000000000000003", "a000000000000003", "search", "acme", kT0 + 2000000000, 1,
                        Code::kPermissionDenied);
  denied.verdicts = {{"input_rules", VerdictKind::kDeny, "matches deny pattern"}};
  store.add(denied);
  traces::Database db = store.reader();

  auto all = list(db.get(), {});
  REQUIRE(all.size() == 3);
  CHECK(all[0].trace_id == "aaaa0000000000000000000000000003");  // newest first
  CHECK(all[2].tenant == "acme");
  CHECK(all[2].prompt_version == "3");
  CHECK(all[2].tags == R"({"team":"search"})");
  CHECK(all[2].input_tokens == 10);
  CHECK(all[2].cost_usd == Approx(0.000015));
  CHECK(all[2].duration_us == 12000);

  traces::TraceFilter f;
  f.tenant = "acme";
  CHECK(list(db.get(), f).size() == 2);
  f = {};
  f.status = "error";
  CHECK(list(db.get(), f).size() == 2);
  f.status = "unavailable";
  REQUIRE(list(db.get(), f).size() == 1);
  CHECK(list(db.get(), f)[0].message == "upstream failed");
  f = {};
  f.verdict = "deny";
  auto deny = list(db.get(), f);
  REQUIRE(deny.size() == 1);
  REQUIRE(deny[0].verdicts.size() == 1);
  CHECK(deny[0].verdicts[0].reason == "matches deny pattern");
  f = {};
  f.route = "chat";
  f.since_unix_ns = kT0 + 500000000;
  CHECK(list(db.get(), f).size() == 1);
  f.until_unix_ns = kT0 + 500000000;
  CHECK(list(db.get(), f).empty());
  f = {};
  f.limit = 2;
  CHECK(list(db.get(), f).size() == 2);

  // Each provider attempt is a row of its own, from its span's attributes.
  CHECK(count(db.get(), "SELECT count(*) FROM attempts") == 3);
  CHECK(count(db.get(), "SELECT count(*) FROM attempts WHERE target = 'openai/gpt-4o-mini' AND input_tokens = 10"
                        " AND output_tokens = 5 AND status = 'UNAVAILABLE'") == 2);
}

TEST_CASE("trace store: one trace across two requests keeps its span tree, feedback and the answer captured") {
  Store store;
  const std::string trace = "bbbb0000000000000000000000000001";
  auto caller = request(trace, "c000000000000001", "chat", "acme", kT0, 30);
  caller.root_parent_span_id = "00f067aa0ba902b7";  // the client's traceparent span
  caller.capture = config::Capture::kFull;
  outrigger_message_view m{{"user", 4}, {"hello", 5}, {nullptr, 0}, {nullptr, 0}, nullptr, 0};
  caller.prompt = std::make_shared<chain::OwnedMessages>(std::initializer_list<chain::OwnedMessages::List>{{&m, 1}});
  caller.answer = "hi there";
  // A plugin's model call through the host: a child request under the caller's guardrail span.
  auto child = request(trace, "d000000000000001", "judge", "acme", kT0 + 50, 8);
  child.root_parent_span_id = "c000000000000001";
  store.add(caller);
  store.add(child);
  store.add(request("bbbb0000000000000000000000000002", "e000000000000001", "chat", "acme", kT0, 5));
  telemetry::FeedbackRecord fb;
  fb.trace_id = trace;
  fb.score = 0.25;
  fb.comment = "wrong answer";
  fb.metadata.tenant = "acme";
  fb.received_unix_ns = kT0 + 9000000000;
  telemetry::FeedbackView fb_view(fb);
  REQUIRE(store.inst->exporter()->export_feedback(store.inst->handle(), fb_view.get()) == OUTRIGGER_OK);
  traces::Database db = store.reader();

  traces::TraceDetail t;
  std::string error;
  REQUIRE(traces::loadTrace(db.get(), trace, {}, &t, &error));
  REQUIRE(t.requests.size() == 2);
  CHECK(t.requests[0].route == "chat");
  CHECK(t.requests[0].parent_span_id == "00f067aa0ba902b7");
  CHECK(t.requests[1].route == "judge");
  CHECK(t.requests[1].parent_span_id == "c000000000000001");
  REQUIRE(t.spans.size() == 4);
  CHECK(t.spans[0].parent_span_id == "c000000000000001");
  CHECK(t.spans[1].stage == "provider");
  CHECK(t.requests[0].capture == "full");
  CHECK(t.requests[0].answer == "hi there");
  CHECK(t.requests[0].prompt == R"([{"role":"user","content":"hello"}])");
  CHECK(t.requests[1].capture == "none");
  REQUIRE(t.feedback.size() == 1);
  CHECK(t.feedback[0].score == 0.25);
  CHECK(t.feedback[0].comment == "wrong answer");

  // The JSON document the admin server answers with: content and attributes as JSON values.
  rapidjson::Document d;
  d.Parse(traces::traceJson(trace, t).c_str());
  REQUIRE_FALSE(d.HasParseError());
  CHECK(d["requests"].Size() == 2);
  CHECK(std::string(d["requests"][0]["prompt"][0]["content"].GetString()) == "hello");
  CHECK(std::string(d["requests"][0]["spans"][1]["attributes"]["outrigger.target"].GetString()) == "openai/gpt-4o-mini");
  CHECK_FALSE(d["requests"][1].HasMember("answer"));
  CHECK(d["feedback"][0]["score"].GetDouble() == 0.25);

  traces::TraceDetail none;
  REQUIRE(traces::loadTrace(db.get(), "ffff0000000000000000000000000000", {}, &none, &error));
  CHECK(none.requests.empty());
}

// Feedback is any caller's to send for any trace id: one trace's answer held all of it.
TEST_CASE("trace store: one trace's answer holds at most 1000 feedback rows and says it was cut") {
  Store store;
  const std::string trace = "bbbb0000000000000000000000000003";
  store.add(request(trace, "c000000000000003", "chat", "acme", kT0, 30));
  for (int i = 0; i < 1001; ++i) {
    telemetry::FeedbackRecord fb;
    fb.trace_id = trace;
    fb.score = 1;
    fb.comment = "spam " + std::to_string(i);
    fb.received_unix_ns = kT0 + 1000 + i;
    telemetry::FeedbackView fb_view(fb);
    REQUIRE(store.inst->exporter()->export_feedback(store.inst->handle(), fb_view.get()) == OUTRIGGER_OK);
  }
  traces::Database db = store.reader();
  traces::TraceDetail t;
  std::string error;
  REQUIRE(traces::loadTrace(db.get(), trace, {}, &t, &error));
  CHECK(t.requests.size() == 1);
  CHECK(t.feedback.size() == traces::kMaxTraceFeedback);
  CHECK(t.feedback_truncated);
  CHECK_FALSE(t.truncated);
  rapidjson::Document d;
  d.Parse(traces::traceJson(trace, t).c_str());
  REQUIRE_FALSE(d.HasParseError());
  CHECK(d["feedback_truncated"].GetBool());
}

TEST_CASE("trace store: nothing of the content is kept with capture none or with content = false") {
  {
    Store store;
    store.add(request("cccc0000000000000000000000000001", "f000000000000001", "chat", "acme", kT0, 3));
    traces::Database db = store.reader();
    CHECK(count(db.get(), "SELECT count(*) FROM requests WHERE prompt IS NULL AND answer IS NULL AND capture = 'none'") == 1);
  }
  Store store(R"(, "content": false)");
  auto r = request("cccc0000000000000000000000000002", "f000000000000002", "chat", "acme", kT0, 3);
  r.capture = config::Capture::kFull;
  outrigger_message_view m{{"user", 4}, {"secret", 6}, {nullptr, 0}, {nullptr, 0}, nullptr, 0};
  r.prompt = std::make_shared<chain::OwnedMessages>(std::initializer_list<chain::OwnedMessages::List>{{&m, 1}});
  r.answer = "secret answer";
  store.add(r);
  traces::Database db = store.reader();
  CHECK(count(db.get(), "SELECT count(*) FROM requests WHERE prompt IS NULL AND answer IS NULL") == 1);
}

TEST_CASE("trace store: stats give nearest-rank percentiles, error and refusal rates, tokens and cost per group") {
  Store store;
  // acme: 100 requests of 1..100 ms, every tenth failed, two refused; beta: one of 7 ms.
  for (uint64_t i = 1; i <= 100; ++i) {
    char trace[40];
    std::snprintf(trace, sizeof trace, "dddd%028llu", static_cast<unsigned long long>(i));
    char root[20];
    std::snprintf(root, sizeof root, "%016llx", static_cast<unsigned long long>(i));
    auto r = request(trace, root, "chat", "acme", kT0 + i, i, i % 10 == 0 ? Code::kUnavailable : Code::kOk);
    if (i == 3 || i == 4) r.finish_reason = "content_filter";
    store.add(r);
  }
  store.add(request("eeee0000000000000000000000000001", "ee00000000000001", "chat", "beta", kT0, 7));
  traces::Database db = store.reader();

  std::vector<traces::StatsRow> rows;
  std::string error;
  REQUIRE(traces::requestStats(db.get(), {}, traces::GroupBy::kTenant, {}, &rows, &error));
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].key == "acme");
  CHECK(rows[0].requests == 100);
  CHECK(rows[0].errors == 10);
  CHECK(rows[0].refusals == 2);
  CHECK(rows[0].p50_ms == 50);
  CHECK(rows[0].p95_ms == 95);
  CHECK(rows[0].p99_ms == 99);
  CHECK(rows[0].input_tokens == 1000);
  CHECK(rows[0].output_tokens == 500);
  CHECK(rows[0].cost_usd == Approx(0.0015));
  CHECK(rows[1].key == "beta");
  CHECK(rows[1].p99_ms == 7);

  rows.clear();
  REQUIRE(traces::requestStats(db.get(), {}, traces::GroupBy::kPromptVersion, {}, &rows, &error));
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].key == "greeting@3");
  CHECK(rows[0].requests == 101);

  traces::TraceFilter beta;
  beta.tenant = "beta";
  rows.clear();
  REQUIRE(traces::requestStats(db.get(), beta, traces::GroupBy::kModel, {}, &rows, &error));
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].key == "gpt-4o-mini");
  CHECK(rows[0].requests == 1);

  rapidjson::Document d;
  d.Parse(traces::statsJson(traces::GroupBy::kModel, rows).c_str());
  REQUIRE_FALSE(d.HasParseError());
  CHECK(std::string(d["by"].GetString()) == "model");
  CHECK(d["groups"][0]["latency_ms"]["p50"].GetDouble() == 7);
}

TEST_CASE("trace store: bucketed stats give each group's requests, errors, cache hits, tokens and cost per time bucket") {
  Store store;
  constexpr uint64_t kSecond = 1000000000;  // kT0 is a multiple of 60 s
  store.add(request("f0000000000000000000000000000001", "f000000000000001", "chat", "acme", kT0, 5));
  auto hit = request("f0000000000000000000000000000002", "f000000000000002", "chat", "acme", kT0 + 30 * kSecond, 5);
  hit.cache_hit = true;
  store.add(hit);
  store.add(request("f0000000000000000000000000000003", "f000000000000003", "chat", "acme", kT0 + 61 * kSecond, 5));
  auto failed = request("f0000000000000000000000000000004", "f000000000000004", "chat", "beta", kT0 + 125 * kSecond, 5,
                        Code::kUnavailable);
  failed.model = "claude-haiku-4-5";
  store.add(failed);
  store.add(request("f0000000000000000000000000000005", "f000000000000005", "chat", "acme", kT0 - kSecond, 5));
  traces::Database db = store.reader();

  traces::TraceFilter since_t0;
  since_t0.since_unix_ns = static_cast<int64_t>(kT0);
  since_t0.until_unix_ns = static_cast<int64_t>(kT0 + 600 * kSecond);
  std::vector<traces::SeriesRow> series;
  std::string error;
  REQUIRE(traces::bucketedStats(db.get(), since_t0, traces::GroupBy::kTenant, 60, {}, &series, &error));
  REQUIRE(series.size() == 2);
  CHECK(series[0].key == "acme");  // costs most
  CHECK(series[0].requests == 3);  // the one before since is not counted
  CHECK(series[0].cost_usd == Approx(0.000045));
  REQUIRE(series[0].buckets.size() == 2);
  CHECK(series[0].buckets[0].start_unix_ns == static_cast<int64_t>(kT0));
  CHECK(series[0].buckets[0].requests == 2);
  CHECK(series[0].buckets[0].cache_hits == 1);
  CHECK(series[0].buckets[0].input_tokens == 20);
  CHECK(series[0].buckets[0].output_tokens == 10);
  CHECK(series[0].buckets[0].cost_usd == Approx(0.00003));
  CHECK(series[0].buckets[1].start_unix_ns == static_cast<int64_t>(kT0 + 60 * kSecond));
  CHECK(series[0].buckets[1].requests == 1);
  CHECK(series[1].key == "beta");
  REQUIRE(series[1].buckets.size() == 1);
  CHECK(series[1].buckets[0].start_unix_ns == static_cast<int64_t>(kT0 + 120 * kSecond));
  CHECK(series[1].buckets[0].errors == 1);

  series.clear();
  REQUIRE(traces::bucketedStats(db.get(), since_t0, traces::GroupBy::kModel, 3600, {}, &series, &error));
  REQUIRE(series.size() == 2);
  CHECK(series[0].key == "gpt-4o-mini");
  CHECK(series[0].buckets.size() == 1);
  CHECK(series[1].key == "claude-haiku-4-5");

  rapidjson::Document d;
  d.Parse(traces::bucketedStatsJson(traces::GroupBy::kModel, 3600, since_t0.since_unix_ns, since_t0.until_unix_ns,
                                    series).c_str());
  REQUIRE_FALSE(d.HasParseError());
  CHECK(std::string(d["by"].GetString()) == "model");
  CHECK(d["bucket_seconds"].GetUint() == 3600);
  CHECK(d["series"][0]["buckets"][0]["requests"].GetUint64() == 3);
  CHECK(d["series"][1]["buckets"][0]["errors"].GetUint64() == 1);
}

// Copies of the store's first request for `count` users, user printf(`format`, from + i) lasting
// `from + i + 1` ms, written with SQL: thousands of groups without thousands of records.
void copyForUsers(const std::string& path, const char* format, int from, int count) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  std::string columns, values;
  {
    traces::Statement info(db, "PRAGMA table_info(requests)");
    REQUIRE(info.ok());
    while (info.step() == SQLITE_ROW) {
      std::string c = info.columnText(1);
      if (c == "id") continue;
      columns += (columns.empty() ? "" : ", ") + c;
      values += values.empty() ? "" : ", ";
      if (c == "user") values += std::string("printf('") + format + "', i)";
      else if (c == "duration_us") values += "(i + 1) * 1000";
      else values += "r." + c;
    }
  }
  std::string sql = "INSERT INTO requests (" + columns + ") WITH RECURSIVE n(i) AS (SELECT " + std::to_string(from) +
                    " UNION ALL SELECT i + 1 FROM n WHERE i < " + std::to_string(from + count - 1) + ") SELECT " +
                    values + " FROM requests r, n WHERE r.id = (SELECT min(id) FROM requests)";
  char* message = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
  INFO((message ? message : ""));
  sqlite3_free(message);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
}

TEST_CASE("trace store: stats over more groups than an answer holds keep the largest and sum the rest as _other") {
  Store store;
  store.add(request("f1000000000000000000000000000001", "f100000000000001", "chat", "acme", kT0, 5));  // user ""
  store.flush();
  // 2500 users with one request each, u0000..u2499 lasting 1..2500 ms; u2000..u2499 (last by key,
  // so they must displace groups seen before them) two more each.
  copyForUsers(store.path, "u%04d", 0, 2500);
  copyForUsers(store.path, "u%04d", 2000, 500);
  copyForUsers(store.path, "u%04d", 2000, 500);
  traces::Database db = store.reader();
  REQUIRE(count(db.get(), "SELECT count(*) FROM requests") == 3501);

  std::vector<traces::StatsRow> rows;
  std::string error;
  REQUIRE(traces::requestStats(db.get(), {}, traces::GroupBy::kUser, {}, &rows, &error));
  REQUIRE(rows.size() == traces::kMaxStatsGroups + 1);
  // The 500 busiest, then the one-request groups first by key: "", u0000 .. u0498.
  CHECK(rows[0].key == "u2000");
  CHECK(rows[0].requests == 3);
  CHECK(rows[0].p99_ms == 2001);
  CHECK(rows[499].key == "u2499");
  CHECK(rows[500].key == "");
  CHECK(rows[501].key == "u0000");
  CHECK(rows[999].key == "u0498");
  CHECK(rows[999].requests == 1);
  const traces::StatsRow& other = rows.back();
  CHECK(other.key == traces::kOtherGroups);
  CHECK(other.groups == 1501);  // u0499 .. u1999
  CHECK(other.requests == 1501);
  CHECK(other.cost_usd == Approx(1501 * 0.000015));
  CHECK(other.input_tokens == 1501 * 10);
  CHECK(other.p50_ms == 1250);  // rank 751 of 500 .. 2000 ms
  CHECK(other.p99_ms == 1985);  // rank 1486
  uint64_t total = 0;
  for (const traces::StatsRow& r : rows) total += r.requests;
  CHECK(total == 3501);

  rapidjson::Document d;
  d.Parse(traces::statsJson(traces::GroupBy::kUser, rows).c_str());
  REQUIRE_FALSE(d.HasParseError());
  CHECK(d["groups"].Size() == traces::kMaxStatsGroups + 1);
  CHECK(std::string(d["groups"][traces::kMaxStatsGroups]["key"].GetString()) == "_other");
  // Marked as the rest, which a group that is really called "_other" is not.
  CHECK(d["groups"][traces::kMaxStatsGroups]["other_groups"].GetUint64() == 1501);
  CHECK_FALSE(d["groups"][0].HasMember("other_groups"));

  // Over time: the costliest series, then the rest as one series of summed buckets.
  traces::TraceFilter since_t0;
  since_t0.since_unix_ns = static_cast<int64_t>(kT0);
  since_t0.until_unix_ns = static_cast<int64_t>(kT0) + int64_t{600} * 1000000000;
  std::vector<traces::SeriesRow> series;
  REQUIRE(traces::bucketedStats(db.get(), since_t0, traces::GroupBy::kUser, 60, {}, &series, &error));
  REQUIRE(series.size() == traces::kMaxStatsGroups + 1);
  CHECK(series[0].key == "u2000");
  CHECK(series[0].requests == 3);
  CHECK(series.back().key == traces::kOtherGroups);
  CHECK(series.back().groups == 1501);
  CHECK(series.back().other);
  CHECK_FALSE(series[0].other);
  REQUIRE(series.back().buckets.size() == 1);
  CHECK(series.back().buckets[0].start_unix_ns == static_cast<int64_t>(kT0));
  CHECK(series.back().buckets[0].requests == 1501);
  CHECK(series.back().buckets[0].input_tokens == 1501 * 10);

  // Fewer groups than the bound: no _other row.
  traces::TraceFilter one_user;
  one_user.user = "u0007";
  rows.clear();
  REQUIRE(traces::requestStats(db.get(), one_user, traces::GroupBy::kUser, {}, &rows, &error));
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].key == "u0007");
}

TEST_CASE("trace store: a bucketed query needs since, a bucket of 1 s to a day, and at most 1440 buckets") {
  traces::TraceFilter f;
  std::string error;
  int64_t now = static_cast<int64_t>(kT0);
  CHECK_FALSE(traces::validBuckets(f, 60, now, &error));
  CHECK(error.find("needs since") != std::string::npos);
  f.since_unix_ns = now - int64_t{3600} * 1000000000;
  CHECK(traces::validBuckets(f, 60, now, &error));  // 60 buckets
  CHECK_FALSE(traces::validBuckets(f, 0, now, &error));
  CHECK(error.find("bucket must be 1..86400") != std::string::npos);
  CHECK_FALSE(traces::validBuckets(f, 86401, now, &error));
  CHECK(traces::validBuckets(f, 3, now, &error));        // 1200
  CHECK_FALSE(traces::validBuckets(f, 2, now, &error));  // 1800
  CHECK(error.find("more than 1440 buckets") != std::string::npos);
  f.until_unix_ns = f.since_unix_ns + int64_t{1440} * 1000000000;
  CHECK(traces::validBuckets(f, 1, now, &error));  // exactly 1440
  f.until_unix_ns += 1;
  CHECK_FALSE(traces::validBuckets(f, 1, now, &error));  // into a 1441st
  std::vector<traces::SeriesRow> series;
  CHECK_FALSE(traces::bucketedStats(nullptr, traces::TraceFilter{}, traces::GroupBy::kTenant, 60, {}, &series, &error));
}

TEST_CASE("trace store: retention deletes by age, and by size down to the bound, oldest first") {
  std::string path = testing::makeTempDir() + "/traces.db";
  std::string error;
  auto writer = openWriter(path);
  const uint64_t hour = 3600ull * 1000000000;
  for (uint64_t i = 0; i < 10; ++i) {
    auto r = request("ffff00000000000000000000000000" + std::to_string(10 + i), "f10000000000000" + std::to_string(i),
                     "chat", "acme", kT0 + i * hour, 5);
    telemetry::RecordView view(r);
    REQUIRE(writer->writeRequest(*view.get(), &error));
  }
  REQUIRE(writer->commit(&error));
  traces::RetentionResult result;
  // Now is 12 h after the first: a 6 h window keeps the requests that started at +6 h .. +9 h.
  REQUIRE(writer->enforce({static_cast<int64_t>(6 * hour), 0}, static_cast<int64_t>(kT0 + 12 * hour), &result, &error));
  CHECK(result.requests_deleted == 6);
  {
    traces::Database db = traces::openStoreForReading(path, &error);
    REQUIRE(db);
    CHECK(count(db.get(), "SELECT count(*) FROM requests") == 4);
    CHECK(count(db.get(), "SELECT min(start_unix_ns) FROM requests") == static_cast<int64_t>(kT0 + 6 * hour));
    CHECK(count(db.get(), "SELECT count(*) FROM spans") == 8);
    CHECK(count(db.get(), "SELECT count(*) FROM attempts") == 4);
    CHECK(count(db.get(), "SELECT count(*) FROM verdicts") == 4);
  }

  // Size: 4,000 requests with 2 KB answers each, then a 1 MiB bound.
  std::string big(2000, 'x');
  for (uint64_t i = 0; i < 4000; ++i) {
    auto r = request("ab" + std::to_string(100000 + i), "ab" + std::to_string(100000 + i), "chat", "acme",
                     kT0 + 13 * hour + i, 5);
    r.capture = config::Capture::kFull;
    r.answer = big;
    telemetry::RecordView view(r);
    REQUIRE(writer->writeRequest(*view.get(), &error));
  }
  REQUIRE(writer->commit(&error));
  CHECK(writer->usedBytes() > 8u << 20);
  result = {};
  REQUIRE(writer->enforce({0, 1u << 20}, static_cast<int64_t>(kT0 + 14 * hour), &result, &error));
  CHECK(writer->usedBytes() <= 1u << 20);
  CHECK(result.requests_deleted > 3000);
  traces::Database db = traces::openStoreForReading(path, &error);
  REQUIRE(db);
  // The newest survive; the file itself shrank with the freed pages.
  CHECK(count(db.get(), "SELECT max(start_unix_ns) FROM requests") == static_cast<int64_t>(kT0 + 13 * hour + 3999));
  CHECK(count(db.get(), "SELECT count(*) FROM requests") > 100);
  CHECK(count(db.get(), "PRAGMA page_count") * count(db.get(), "PRAGMA page_size") <= (1 << 20) + (64 << 10));
}

// Feedback is rows any caller sends. The size bound deleted only requests (feedback went only
// when older than the oldest request kept), so large feedback newer than every request emptied
// the store of requests, then went with them; with no requests at all the bound did not hold.
TEST_CASE("trace store: the size bound weighs feedback with requests, oldest first") {
  std::string path = testing::makeTempDir() + "/traces.db";
  std::string error;
  auto writer = openWriter(path);
  const uint64_t second = 1000000000ull;
  std::string answer(2000, 'x');
  for (uint64_t i = 0; i < 200; ++i) {
    auto r = request("cd" + std::to_string(100000 + i), "cd" + std::to_string(100000 + i), "chat", "acme", kT0 + i * second, 5);
    r.capture = config::Capture::kFull;
    r.answer = answer;
    telemetry::RecordView view(r);
    REQUIRE(writer->writeRequest(*view.get(), &error));
  }
  // 128 pieces of feedback of 16 KB each (2 MB), received from second `from` on.
  const std::string comment(16000, 'c');
  auto feedback = [&](const std::string& prefix, uint64_t from) {
    for (uint64_t i = 0; i < 128; ++i) {
      telemetry::FeedbackRecord fb;
      fb.trace_id = prefix + std::to_string(100000 + i);
      fb.comment = comment;
      fb.received_unix_ns = kT0 + (from + i) * second;
      telemetry::FeedbackView view(fb);
      REQUIRE(writer->writeFeedback(*view.get(), &error));
    }
  };
  feedback("ef", 1000);  // newer than every request
  REQUIRE(writer->commit(&error));
  const uint64_t bound = 1u << 20;
  REQUIRE(writer->usedBytes() > 2 * bound);
  traces::RetentionResult result;
  REQUIRE(writer->enforce({0, static_cast<int64_t>(bound)}, static_cast<int64_t>(kT0 + 2000 * second), &result, &error));
  CHECK(writer->usedBytes() <= bound);
  {
    traces::Database db = traces::openStoreForReading(path, &error);
    REQUIRE(db);
    // The requests are older, so all of them went first, then the oldest feedback; the newest
    // feedback stays.
    CHECK(count(db.get(), "SELECT count(*) FROM requests") == 0);
    CHECK(count(db.get(), "SELECT count(*) FROM feedback") > 0);
    CHECK(count(db.get(), "SELECT max(received_unix_ns) FROM feedback") == static_cast<int64_t>(kT0 + 1127 * second));
  }
  CHECK(result.requests_deleted == 200);
  CHECK(result.feedback_deleted > 0);

  // A store of feedback alone is held to the bound too, and newer requests outlive older feedback.
  feedback("ff", 3000);
  for (uint64_t i = 0; i < 5; ++i) {
    auto r = request("ce" + std::to_string(100000 + i), "ce" + std::to_string(100000 + i), "chat", "acme",
                     kT0 + (4000 + i) * second, 5);
    telemetry::RecordView view(r);
    REQUIRE(writer->writeRequest(*view.get(), &error));
  }
  REQUIRE(writer->commit(&error));
  result = {};
  REQUIRE(writer->enforce({0, static_cast<int64_t>(bound)}, static_cast<int64_t>(kT0 + 5000 * second), &result, &error));
  CHECK(writer->usedBytes() <= bound);
  CHECK(result.requests_deleted == 0);
  traces::Database db = traces::openStoreForReading(path, &error);
  REQUIRE(db);
  CHECK(count(db.get(), "SELECT count(*) FROM requests") == 5);
}

// A COMMIT refused on a full disk rolled its batch back: records reported written were never
// stored, and nothing counted them.
TEST_CASE("trace store: records a failed commit loses are counted, and the writer goes on after") {
  testing::FullDiskVfs disk;
  std::string path = testing::makeTempDir() + "/traces.db";
  std::string error;
  auto writer = openWriter(path);
  auto write = [&](uint64_t from, uint64_t n) {
    for (uint64_t i = from; i < from + n; ++i) {
      auto r = request("dd" + std::to_string(100000 + i), "dd" + std::to_string(100000 + i), "chat", "acme", kT0 + i, 5);
      telemetry::RecordView view(r);
      REQUIRE(writer->writeRequest(*view.get(), &error));
    }
  };
  write(0, 3);
  REQUIRE(writer->commit(&error));
  CHECK(writer->lost() == 0);
  write(3, 4);
  disk.full = true;
  CHECK_FALSE(writer->commit(&error));
  CHECK(error.find("4 records lost") != std::string::npos);
  CHECK(writer->lost() == 4);
  disk.full = false;
  write(7, 1);
  REQUIRE(writer->commit(&error));
  CHECK(writer->lost() == 4);
  traces::Database db = traces::openStoreForReading(path, &error);
  REQUIRE(db);
  CHECK(count(db.get(), "SELECT count(*) FROM requests") == 4);
}

// Opening a store rewrote its schema version and settings, which takes the write lock a running
// writer holds for its commit interval: a reload or `outrigger check` waited 2 s and failed.
TEST_CASE("trace store: opening a store for writing does not wait for another writer's open transaction") {
  std::string path = testing::makeTempDir() + "/traces.db";
  std::string error;
  auto writer = openWriter(path);
  auto r = request("ee100000", "ee100000", "chat", "acme", kT0, 5);
  telemetry::RecordView view(r);
  REQUIRE(writer->writeRequest(*view.get(), &error));  // its transaction stays open
  traces::Database second = traces::openStoreForWriting(path, &error);  // "database is locked" after 2 s
  INFO(error);
  CHECK(second);
  REQUIRE(writer->commit(&error));
}

// Two daemons writing one store: a writer held the write lock from its batch's first record to
// its commit (a second at the default interval), so the other's every record waited out the 2 s
// busy timeout and was dropped.
TEST_CASE("trace store: a writer's batch waiting for its commit does not hold another writer up") {
  std::string path = testing::makeTempDir() + "/traces.db";
  std::string error;
  auto first = openWriter(path);
  auto second = openWriter(path);
  for (int i = 0; i < 50; ++i) {
    auto a = request("ef" + std::to_string(100000 + i), "ef" + std::to_string(100000 + i), "chat", "acme", kT0 + i, 5);
    auto b = request("eg" + std::to_string(100000 + i), "eg" + std::to_string(100000 + i), "chat", "acme", kT0 + i, 5);
    telemetry::RecordView va(a), vb(b);
    auto started = std::chrono::steady_clock::now();
    REQUIRE(first->writeRequest(*va.get(), &error));  // its batch waits for its commit
    REQUIRE(second->writeRequest(*vb.get(), &error));
    if (i % 10 == 9) REQUIRE(second->commit(&error));  // while the first's batch is pending
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::milliseconds(500));
  }
  REQUIRE(first->commit(&error));
  REQUIRE(second->commit(&error));
  CHECK((first->lost() == 0 && second->lost() == 0));
  traces::Database db = traces::openStoreForReading(path, &error);
  REQUIRE(db);
  CHECK(count(db.get(), "SELECT count(*) FROM requests") == 100);
}

// A full disk during an insert makes SQLite roll the batch back: its records are counted lost,
// and the writer goes on with the next batch.
TEST_CASE("trace store: a batch an insert error rolls back is counted lost, and the next one is stored") {
  testing::FullDiskVfs disk;
  std::string path = testing::makeTempDir() + "/traces.db";
  std::string error;
  auto writer = openWriter(path);
  writer->setLogResetPagesForTest(1 << 30);
  auto write = [&](uint64_t from, uint64_t n, size_t message_bytes) {
    for (uint64_t i = from; i < from + n; ++i) {
      auto r = request("eh" + std::to_string(100000 + i), "eh" + std::to_string(100000 + i), "chat", "acme", kT0 + i, 5);
      r.message = std::string(message_bytes, 'x');
      telemetry::RecordView view(r);
      REQUIRE(writer->writeRequest(*view.get(), &error));
    }
  };
  write(0, 2, 10);
  REQUIRE(writer->commit(&error));
  disk.full = true;
  write(2, 400, 40000);  // more than the page cache holds: pages spill to the log mid-batch
  CHECK_FALSE(writer->commit(&error));
  CHECK(writer->lost() == 400);
  disk.full = false;
  write(402, 3, 10);
  INFO(error);
  REQUIRE(writer->commit(&error));
  CHECK(writer->lost() == 400);
  traces::Database db = traces::openStoreForReading(path, &error);
  REQUIRE(db);
  CHECK(count(db.get(), "SELECT count(*) FROM requests") == 5);
}

// Closing a writer empties the log with a TRUNCATE checkpoint, which waits for every other
// writer: behind a second daemon's open batch (or `outrigger check` beside a live one) a close
// took the whole 5 s busy timeout.
TEST_CASE("trace store: closing a writer does not wait out another writer's open transaction") {
  std::string path = testing::makeTempDir() + "/traces.db";
  std::string error;
  auto busy = openWriter(path);
  auto closing = openWriter(path);
  auto r = request("ee200000", "ee200000", "chat", "acme", kT0, 5);
  telemetry::RecordView view(r);
  REQUIRE(busy->writeRequest(*view.get(), &error));  // its transaction stays open
  auto started = std::chrono::steady_clock::now();
  closing.reset();
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(2));
  REQUIRE(busy->commit(&error));
}

TEST_CASE("trace store: a file that is not a store, or a newer schema, is refused with a reason") {
  std::string dir = testing::makeTempDir();
  std::string error;
  CHECK_FALSE(traces::openStoreForReading(dir + "/missing.db", &error));
  CHECK(error.find("missing.db") != std::string::npos);
  {
    traces::Database db = traces::openStoreForWriting(dir + "/plain.db", &error);
    REQUIRE(db);
    REQUIRE(traces::execute(db.get(), "PRAGMA user_version = 0", &error));
  }
  CHECK_FALSE(traces::openStoreForReading(dir + "/plain.db", &error));
  CHECK(error.find("not a trace store") != std::string::npos);
  {
    traces::Database db = traces::openStoreForWriting(dir + "/newer.db", &error);
    REQUIRE(db);
    REQUIRE(traces::execute(db.get(), "PRAGMA user_version = 99", &error));
  }
  CHECK_FALSE(traces::openStoreForReading(dir + "/newer.db", &error));
  CHECK(error.find("schema 99") != std::string::npos);
  CHECK_FALSE(traces::openStoreForWriting(dir + "/newer.db", &error));
  CHECK(error.find("newer than this build") != std::string::npos);
}

TEST_CASE("trace store: a path the config names must be writable, while the default location may be missing or made") {
  auto types = plugin::loadLibrary(std::string(OUTRIGGER_PLUGIN_DIR) + "/exporter_sqlite.so");
  REQUIRE(types.ok());
  config::InstanceSettings bad{"traces", "exporter", "sqlite", R"({"path": "/proc/no/such/traces.db"})",
                               config::OnError::kSkip, "t:1", {}};
  auto created = plugin::PluginInstance::create(*types.value()[0], bad, chain::hostApiTemplate());
  REQUIRE_FALSE(created.ok());
  INFO(created.status().message());
  CHECK(created.status().message().find("cannot create /proc/no") != std::string::npos);

  // Without a path and without a place for the default one, the daemon still starts; records
  // are refused (and counted as failed exports by the host).
  std::string home = std::getenv("HOME") ? std::getenv("HOME") : "";
  std::string state = std::getenv("XDG_STATE_HOME") ? std::getenv("XDG_STATE_HOME") : "";
  ::unsetenv("HOME");
  ::unsetenv("XDG_STATE_HOME");
  config::InstanceSettings nowhere{"traces", "exporter", "sqlite", "{}", config::OnError::kSkip, "t:1", {}};
  auto off = plugin::PluginInstance::create(*types.value()[0], nowhere, chain::hostApiTemplate());
  if (!home.empty()) ::setenv("HOME", home.c_str(), 1);
  if (!state.empty()) ::setenv("XDG_STATE_HOME", state.c_str(), 1);
  REQUIRE(off.ok());
  auto r = request("aaaa0000000000000000000000000009", "a000000000000009", "chat", "acme", kT0, 1);
  telemetry::RecordView view(r);
  CHECK(off.value()->exporter()->export_record(off.value()->handle(), view.get()) == OUTRIGGER_E_INTERNAL);

  // The default location: $XDG_STATE_HOME/outrigger/traces.db, created with its folders.
  std::string dir = testing::makeTempDir();
  ::setenv("XDG_STATE_HOME", dir.c_str(), 1);
  CHECK(traces::defaultStorePath() == dir + "/outrigger/traces.db");
  auto here = plugin::PluginInstance::create(*types.value()[0], nowhere, chain::hostApiTemplate());
  if (state.empty()) ::unsetenv("XDG_STATE_HOME");
  else ::setenv("XDG_STATE_HOME", state.c_str(), 1);
  REQUIRE(here.ok());
  CHECK(here.value()->exporter()->export_record(here.value()->handle(), view.get()) == OUTRIGGER_OK);
  REQUIRE(here.value()->exporter()->flush(here.value()->handle()) == OUTRIGGER_OK);
  std::string error;
  traces::Database db = traces::openStoreForReading(dir + "/outrigger/traces.db", &error);
  REQUIRE(db);
  CHECK(count(db.get(), "SELECT count(*) FROM requests") == 1);
}

TEST_CASE("trace store: time bounds read durations, Unix seconds and RFC 3339 UTC") {
  const int64_t now = 1800000000000000000;
  int64_t t = 0;
  REQUIRE(traces::parseTimeBound("15m", now, &t));
  CHECK(t == now - 900000000000);
  REQUIRE(traces::parseTimeBound("2h", now, &t));
  CHECK(t == now - 7200000000000);
  REQUIRE(traces::parseTimeBound("7d", now, &t));
  CHECK(t == now - 7 * 86400000000000);
  REQUIRE(traces::parseTimeBound("1700000000", now, &t));
  CHECK(t == 1700000000000000000);
  REQUIRE(traces::parseTimeBound("2026-12-03T01:00:00Z", now, &t));
  CHECK(t == 1796259600000000000);
  CHECK_FALSE(traces::parseTimeBound("yesterday", now, &t));
  CHECK_FALSE(traces::parseTimeBound("5x", now, &t));
  CHECK_FALSE(traces::parseTimeBound("2026-12-03 01:00", now, &t));
  // Dates that do not exist are refused, not carried into the next month or day.
  for (const char* impossible : {"2026-02-31T00:00:00Z", "2026-13-01T00:00:00Z", "2026-12-03T25:00:00Z"}) {
    INFO(impossible);
    CHECK_FALSE(traces::parseTimeBound(impossible, now, &t));
  }
  REQUIRE(traces::parseTimeBound("2028-02-29T00:00:00Z", now, &t));  // a leap day
  // Past int64 nanoseconds: refused, not converted (undefined behaviour).
  for (const char* huge : {"1e300", "infs", "inf", "nan", "1e9w", "-1e300"}) {
    INFO(huge);
    CHECK_FALSE(traces::parseTimeBound(huge, now, &t));
  }
}

TEST_CASE("trace store: the log is copied into the file on the checkpointer's thread, and emptied at close") {
  std::string path = testing::makeTempDir() + "/traces.db";
  auto fileSize = [](const std::string& p) {
    std::ifstream f(p, std::ios::ate | std::ios::binary);
    return f ? static_cast<long long>(f.tellg()) : -1LL;
  };
  std::string error;
  auto writer = openWriter(path);
  for (uint64_t i = 0; i < 8000; ++i) {  // about 32 MiB: past the 16 MiB threshold at least once
    writeWithAnswer(*writer, i);
    if (i % 500 == 499) REQUIRE(writer->commit(&error));
  }
  REQUIRE(writer->commit(&error));
  // SQLite's own automatic checkpoints are off; only the checkpointer grows the file.
  bool copied = false;
  for (int i = 0; i < 100 && !copied; ++i) {
    copied = fileSize(path) > (16 << 20);
    if (!copied) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(copied);
  writer.reset();
  CHECK(fileSize(path + "-wal") <= 0);
  traces::Database db = traces::openStoreForReading(path, &error);
  REQUIRE(db);
  CHECK(count(db.get(), "SELECT count(*) FROM requests") == 8000);
  // Prompts and answers live here: the file is not readable by other users.
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0007) == 0);
}

TEST_CASE("trace store: a writer that never pauses cannot grow the log without bound") {
  // Records written and committed with no pause: the checkpointer copies while the writer
  // appends, so the log is never all copied and never starts over by itself. Past the reset
  // length (1 MiB here, 64 MiB in use) a commit empties it. Without that this loop grew the log
  // to what it wrote.
  std::string path = testing::makeTempDir() + "/traces.db";
  std::string error;
  auto writer = openWriter(path);
  writer->setLogResetPagesForTest(64);
  struct stat st {};
  long long largest = 0, written = 0;
  // Bounded by bytes, not by time, so that a slow build (a sanitizer's) writes as much.
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (uint64_t i = 0; std::chrono::steady_clock::now() < until && written < (48 << 20); ++i) {
    writeWithAnswer(*writer, i);
    written += 4000;
    if (i % 50 == 49) {
      REQUIRE(writer->commit(&error));
      if (::stat((path + "-wal").c_str(), &st) == 0) largest = std::max<long long>(largest, st.st_size);
    }
  }
  REQUIRE(writer->commit(&error));
  INFO("wrote " << written / (1 << 20) << " MiB, the log reached " << largest / (1 << 20) << " MiB, "
                << writer->logResets() << " resets, " << writer->logResetsFailed() << " waited in vain");
  CHECK(written > (40 << 20));  // far past the bound below
  CHECK(writer->logResets() >= 1);
  CHECK(largest < (8 << 20));
}

TEST_CASE("trace store: a reader holding an old snapshot delays emptying the log, and commits go on") {
  std::string path = testing::makeTempDir() + "/traces.db";
  std::string error;
  auto writer = openWriter(path);
  writer->setLogResetPagesForTest(16);
  uint64_t next = 0;
  auto writeBatch = [&](int records) {  // 100 records: about 400 KB, past 16 pages of 16 KiB
    for (int k = 0; k < records; ++k) writeWithAnswer(*writer, next++);
    REQUIRE(writer->commit(&error));
  };
  writeBatch(100);
  REQUIRE(writer->logResets() == 1);
  writeBatch(1);  // below the reset length: the log keeps it
  // A reader whose snapshot reaches into the log keeps it from being emptied.
  traces::Database reader = traces::openStoreForReading(path, &error);
  REQUIRE(reader);
  REQUIRE(sqlite3_exec(reader.get(), "BEGIN", nullptr, nullptr, nullptr) == SQLITE_OK);
  CHECK(count(reader.get(), "SELECT count(*) FROM requests") == 101);  // the snapshot is taken here
  auto started = std::chrono::steady_clock::now();
  writeBatch(100);
  auto waited = std::chrono::steady_clock::now() - started;
  CHECK(writer->logResets() == 1);
  CHECK(writer->logResetsFailed() == 1);
  CHECK(waited < std::chrono::seconds(2));  // the checkpointer gave up after its short wait for readers
  REQUIRE(sqlite3_exec(reader.get(), "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK);
  writeBatch(100);
  CHECK(writer->logResets() == 2);
  writer.reset();
  traces::Database db = traces::openStoreForReading(path, &error);
  REQUIRE(db);
  CHECK(count(db.get(), "SELECT count(*) FROM requests") == 301);
}

TEST_CASE("trace store: a record view from a host without the minor 2 tail is stored without its trace") {
  Store store;
  auto r = request("abab0000000000000000000000000001", "ab00000000000001", "chat", "acme", kT0, 4);
  r.capture = config::Capture::kFull;
  r.answer = "kept out";
  telemetry::RecordView view(r);
  outrigger_record_view older = *view.get();
  older.hdr.struct_size = OUTRIGGER_SIZE_THROUGH(outrigger_record_view, verdict_count);
  REQUIRE(store.inst->exporter()->export_record(store.inst->handle(), &older) == OUTRIGGER_OK);
  traces::Database db = store.reader();
  traces::TraceDetail t;
  std::string error;
  REQUIRE(traces::loadTrace(db.get(), "abab0000000000000000000000000001", {}, &t, &error));
  REQUIRE(t.requests.size() == 1);
  CHECK(t.requests[0].span_id.empty());
  CHECK(t.requests[0].capture == "none");
  CHECK(t.requests[0].answer.empty());
  REQUIRE(t.spans.size() == 2);
  CHECK(t.spans[0].stage == "guardrail.request");
  CHECK(t.spans[0].attributes == "{}");
  CHECK(t.requests[0].input_tokens == 10);
}

TEST_CASE("trace store: feedback counts for its trace's requests only from their tenant or from none") {
  Store store;
  const std::string theirs = "dddd0000000000000000000000000001", ours = "dddd0000000000000000000000000002",
                    anyones = "dddd0000000000000000000000000003";
  for (const std::string& trace : {theirs, ours, anyones}) {
    auto r = request(trace, "d1" + trace.substr(18), "chat", "acme", kT0 + (trace == theirs ? 0 : 1000), 5);
    capturePrompt(&r, "question on " + trace);
    store.add(r);
  }
  addFeedback(store, theirs, 0.1, "beta");  // another tenant, knowing acme's trace id
  addFeedback(store, ours, 0.2, "acme");
  addFeedback(store, anyones, 0.3, "");  // a caller without tenants
  traces::Database db = store.reader();

  traces::TraceDetail t;
  std::string error;
  REQUIRE(traces::loadTrace(db.get(), theirs, {}, &t, &error));
  CHECK(t.feedback.empty());
  REQUIRE(traces::loadTrace(db.get(), ours, {}, &t, &error));
  REQUIRE(t.feedback.size() == 1);
  CHECK(t.feedback[0].score == 0.2);

  traces::CaptureOptions o;
  o.errors = o.denials = o.flags = o.refusals = o.fallbacks = false;
  o.feedback_below = 0.5;
  o.filter.tenant = "acme";
  std::vector<traces::CapturedCase> cases;
  traces::CaptureReport report = capture(db.get(), o, &cases);
  CHECK(report.captured == 2);
  for (const auto& c : cases) CHECK(c.line.find(theirs) == std::string::npos);

  traces::TraceFilter chat;
  chat.route = "chat";
  std::vector<traces::ArmRow> arms;
  REQUIRE(traces::compareArms(db.get(), chat, {}, &arms, &error));
  REQUIRE(arms.size() == 1);
  CHECK(arms[0].feedback.n == 2);
  CHECK(arms[0].feedback.value == Approx(0.25));

  traces::DriftPopulation drift;
  REQUIRE(traces::loadDriftWindow(db.get(), chat, {}, false, &drift, &error));
  REQUIRE(drift.samples.size() == 3);
  CHECK_FALSE(drift.samples[0].feedback.has_value());  // the oldest: acme's, scored by beta only
  CHECK(drift.samples[1].feedback.has_value());
}

TEST_CASE("trace store: a score JSON cannot hold is written as null, and the trace stays readable") {
  Store store;
  const std::string trace = "eeee0000000000000000000000000001";
  store.add(request(trace, "e100000000000001", "chat", "acme", kT0, 5));
  addFeedback(store, trace, std::numeric_limits<double>::infinity(), "acme");  // a store written before scores were checked
  traces::Database db = store.reader();
  traces::TraceDetail t;
  std::string error;
  REQUIRE(traces::loadTrace(db.get(), trace, {}, &t, &error));
  rapidjson::Document d;
  d.Parse(traces::traceJson(trace, t).c_str());
  REQUIRE_FALSE(d.HasParseError());
  REQUIRE(d["feedback"].Size() == 1);
  CHECK(d["feedback"][0]["score"].IsNull());
}

TEST_CASE("trace store: a prompt a skipped guardrail never vetted keeps its shape, the answer the caller got its text") {
  auto r = request("ffff0000000000000000000000000009", "f100000000000009", "chat", "acme", kT0, 1, Code::kOk);
  std::string text = "a prompt nobody checked";
  outrigger_message_view m{{"user", 4}, {text.data(), text.size()}, {nullptr, 0}, {nullptr, 0}, nullptr, 0};
  telemetry::CaptureLimits limits;
  limits.prompt_vetted = false;  // a request-side guardrail failed with on_error = "skip"
  limits.answer_shown = true;
  telemetry::captureContent(&r, config::Capture::kFull, &m, 1, "the answer", {}, limits);
  CHECK(r.capture == config::Capture::kFull);
  CHECK(r.answer == "the answer");
  REQUIRE(r.prompt);
  REQUIRE(r.prompt->size() == 1);
  CHECK(r.prompt->data()[0].content.size == 0);
}

TEST_CASE("trace store: a denied prompt kept as its shape is no eval case, and says capture metadata") {
  Store store;
  auto denied = request("ffff0000000000000000000000000001", "f100000000000001", "chat", "acme", kT0, 1,
                        Code::kPermissionDenied);
  denied.verdicts = {{"input_rules", VerdictKind::kDeny, "matches deny pattern"}};
  capturePrompt(&denied, "a forbidden phrase", false);
  CHECK(denied.capture == config::Capture::kMetadata);
  CHECK(denied.answer.empty());
  store.add(denied);
  auto again = denied;  // the same denial once more: still no text, not a duplicate
  again.trace_id = "ffff0000000000000000000000000002";
  store.add(again);
  // A store written before records said so: capture full, the prompt's shape only.
  auto legacy = denied;
  legacy.trace_id = "ffff0000000000000000000000000003";
  legacy.capture = config::Capture::kFull;
  store.add(legacy);
  auto kept = request("ffff0000000000000000000000000004", "f100000000000004", "chat", "acme", kT0 + 10, 1,
                      Code::kPermissionDenied);
  kept.verdicts = denied.verdicts;
  capturePrompt(&kept, "a forbidden phrase, kept", true);  // capture_denied = "full"
  store.add(kept);
  traces::Database db = store.reader();
  CHECK(count(db.get(), "SELECT count(*) FROM requests WHERE capture = 'metadata'") == 2);

  std::vector<traces::CapturedCase> cases;
  traces::CaptureReport report = capture(db.get(), {}, &cases);
  CHECK(report.without_text == 3);
  CHECK(report.duplicates == 0);
  REQUIRE(cases.size() == 1);
  CHECK(cases[0].line.find("a forbidden phrase, kept") != std::string::npos);
}

TEST_CASE("trace store: eval capture keeps a tool conversation's calls, and --follow catches feedback that came later") {
  Store store;
  auto r = request("abab0000000000000000000000000001", "ab00000000000001", "chat", "acme", kT0, 5);
  r.capture = config::Capture::kFull;
  outrigger_tool_call_view call{{"call_1", 6}, {"function", 8}, {"lookup_order", 12}, {"{\"id\":\"77\"}", 11}};
  outrigger_message_view m[] = {
      {{"user", 4}, {"where is order 77?", 18}, {nullptr, 0}, {nullptr, 0}, nullptr, 0},
      {{"assistant", 9}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}, &call, 1},
      {{"tool", 4}, {"shipped", 7}, {"lookup_order", 12}, {"call_1", 6}, nullptr, 0}};
  r.prompt = std::make_shared<chain::OwnedMessages>(std::initializer_list<chain::OwnedMessages::List>{{m, 3}});
  store.add(r);
  traces::Database db = store.reader();

  traces::CaptureOptions o;
  o.errors = o.denials = o.flags = o.refusals = o.fallbacks = false;
  o.feedback_below = 0.5;
  std::vector<traces::CapturedCase> cases;
  traces::CaptureReport first = capture(db.get(), o, &cases);
  CHECK(first.captured == 0);  // not scored yet
  REQUIRE(first.last_request > 0);

  addFeedback(store, r.trace_id, 0.1, "acme");
  db = store.reader();
  o.after_request = first.last_request;
  o.after_feedback = first.last_feedback;
  traces::CaptureReport second = capture(db.get(), o, &cases);
  REQUIRE(cases.size() == 1);
  rapidjson::Document line;
  line.Parse(cases[0].line.c_str());
  REQUIRE_FALSE(line.HasParseError());
  const auto& messages = line["messages"];
  REQUIRE(messages.Size() == 3);
  REQUIRE(messages[1]["tool_calls"].Size() == 1);
  CHECK(std::string(messages[1]["tool_calls"][0]["name"].GetString()) == "lookup_order");
  CHECK(std::string(messages[1]["tool_calls"][0]["arguments"].GetString()) == R"({"id":"77"})");
  CHECK(std::string(messages[2]["tool_call_id"].GetString()) == "call_1");
  CHECK(std::string(messages[2]["name"].GetString()) == "lookup_order");

  // The next round has nothing new: the feedback was seen.
  o.after_feedback = second.last_feedback;
  std::vector<traces::CapturedCase> none;
  CHECK(capture(db.get(), o, &none).scanned == 0);
}

// Row ids count on from the newest row, so retention that empties the table starts them over:
// continuous capture, looking after the last round's id, skipped every new row for good.
TEST_CASE("trace store: eval capture --follow catches new rows after retention emptied the store") {
  Store store;
  auto failing = [](const std::string& n) {
    auto r = request("cdcd00000000000000000000000000" + n, "cd000000000000" + n, "chat", "acme", kT0, 5,
                     Code::kUnavailable);
    r.capture = config::Capture::kFull;
    static outrigger_message_view m{{"user", 4}, {"hello", 5}, {nullptr, 0}, {nullptr, 0}, nullptr, 0};
    r.prompt = std::make_shared<chain::OwnedMessages>(std::initializer_list<chain::OwnedMessages::List>{{&m, 1}});
    return r;
  };
  for (const char* n : {"01", "02", "03"}) store.add(failing(n));
  traces::Database db = store.reader();
  traces::CaptureOptions o;
  std::vector<traces::CapturedCase> cases;
  traces::CaptureReport first = capture(db.get(), o, &cases);
  REQUIRE(first.last_request == 3);
  std::string error;
  {
    traces::Database writer = traces::openStoreForWriting(store.path, &error);
    REQUIRE(writer);
    REQUIRE(traces::execute(writer.get(), "DELETE FROM requests", &error));  // as age retention does, all of it
  }
  store.add(failing("04"));
  db = store.reader();
  o.after_request = first.last_request;
  std::vector<traces::CapturedCase> next;
  traces::CaptureReport second = capture(db.get(), o, &next);
  CHECK(second.scanned == 1);
  CHECK(second.last_request == 1);
}

// The arm of each request was its first attempt's target, numbered over every attempt in the
// store before the filter applied: a narrow filter on a full store ran past /traces/arms' deadline.
TEST_CASE("trace store: comparing arms reads the rows the filter keeps, not the whole store") {
  std::string path = testing::makeTempDir() + "/traces.db";
  std::string error;
  {
    auto writer = openWriter(path);
    for (int i = 0; i < 30000; ++i) {
      char trace[33], root[17];
      std::snprintf(trace, sizeof trace, "%032x", i + 1);
      std::snprintf(root, sizeof root, "%016x", i + 1);
      auto r = request(trace, root, i % 3000 == 0 ? "split" : "chat", "acme", kT0 + uint64_t(i), 5);
      telemetry::RecordView view(r);
      REQUIRE(writer->writeRequest(*view.get(), &error));
    }
    REQUIRE(writer->commit(&error));
  }
  traces::Database db = traces::openStoreForReading(path, &error);
  REQUIRE(db);
  traces::TraceFilter split;
  split.route = "split";
  traces::QueryLimits limits;
  limits.timeout_ms = 100;  // the whole-store query took over 150 ms here, this one under 20
  std::vector<traces::ArmRow> arms;
  bool compared = traces::compareArms(db.get(), split, limits, &arms, &error);
  INFO(error);
  REQUIRE(compared);
  REQUIRE(arms.size() == 1);
  CHECK(arms[0].requests == 10);
}

// A prompt kept as its shape (a skipped guardrail never vetted it, while the answer was shown)
// says capture full; its tool calls keep their names, not their arguments. It was written as an
// eval case of empty messages and argument-less calls.
TEST_CASE("trace store: a prompt kept as its shape with tool calls is no eval case") {
  Store store;
  auto r = request("fefe0000000000000000000000000001", "fe00000000000001", "chat", "acme", kT0, 1, Code::kUnavailable);
  outrigger_tool_call_view call{{"call_1", 6}, {"function", 8}, {"lookup_order", 12}, {"{\"id\":\"77\"}", 11}};
  outrigger_message_view m[] = {{{"user", 4}, {"where is order 77?", 18}, {nullptr, 0}, {nullptr, 0}, nullptr, 0},
                                {{"assistant", 9}, {nullptr, 0}, {nullptr, 0}, {nullptr, 0}, &call, 1}};
  telemetry::CaptureLimits limits;
  limits.prompt_vetted = false;
  limits.answer_shown = true;
  telemetry::captureContent(&r, config::Capture::kFull, m, 2, "", {}, limits);
  REQUIRE(r.capture == config::Capture::kFull);
  store.add(r);
  traces::Database db = store.reader();
  std::vector<traces::CapturedCase> cases;
  traces::CaptureReport report = capture(db.get(), {}, &cases);
  CHECK(report.without_text == 1);
  CHECK(cases.empty());
}

// Two exporter instances on one file share its writer, and the host gives each a feedback once.
TEST_CASE("trace store: one feedback given to two instances sharing a writer is stored once") {
  std::string path = testing::makeTempDir() + "/traces.db";
  std::string error;
  auto writer = openWriter(path);
  telemetry::FeedbackRecord fb;
  fb.trace_id = "cccc0000000000000000000000000001";
  fb.score = 0.5;
  fb.received_unix_ns = kT0;
  telemetry::FeedbackView view(fb);
  REQUIRE(writer->writeFeedback(*view.get(), &error));
  REQUIRE(writer->writeFeedback(*view.get(), &error));  // the second instance
  fb.received_unix_ns = kT0 + 1;  // a second feedback on the same trace
  telemetry::FeedbackView later(fb);
  REQUIRE(writer->writeFeedback(*later.get(), &error));
  REQUIRE(writer->commit(&error));
  traces::Database db = traces::openStoreForReading(path, &error);
  REQUIRE(db);
  CHECK(count(db.get(), "SELECT count(*) FROM feedback") == 2);
}
