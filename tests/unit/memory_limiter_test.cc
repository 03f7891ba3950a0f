// limiter.memory's table of keys, from several threads at once: one record per key for the
// whole process, charges that add up, a bound that holds, and idle records that make room.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "limit_table.h"
#include "local_admission.h"

using outrigger::limiter::AttemptTally;
using outrigger::limiter::LimitRecord;
using outrigger::limiter::LimitTable;
using outrigger::limiter::Rates;

namespace {

constexpr int kThreads = 4;
constexpr uint64_t kNow = 1000000000;

template <class F>
void onThreads(F&& f) {
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back([&, i] { f(i); });
  for (auto& t : threads) t.join();
}

}  // namespace

TEST_CASE("limit table: a key's record is one for all threads, and charges from all of them add up") {
  LimitTable table(100);
  Rates rates{500, 100000, 0};
  std::atomic<int> taken{0};
  std::vector<LimitRecord*> seen(kThreads);
  onThreads([&](int i) {
    auto record = table.find("acme", rates, kNow);
    seen[i] = record.get();
    for (int n = 0; n < 1000; ++n) taken += record->requests.take(kNow);
    for (int n = 0; n < 1000; ++n) record->tokens.charge(kNow, 10);
  });
  CHECK(taken == 500);
  for (LimitRecord* r : seen) CHECK(r == seen[0]);
  CHECK(table.find("acme", rates, kNow)->tokens.tokens() == Approx(100000 - kThreads * 1000 * 10));
}

TEST_CASE("limit table: the bound holds when threads add keys at once, while every record is in use") {
  LimitTable table(1000);
  Rates rates{60, 0, 0};
  std::atomic<int> tracked{0}, refused{0};
  std::vector<std::vector<std::shared_ptr<LimitRecord>>> held(kThreads);  // requests holding their records
  onThreads([&](int i) {
    for (int n = 0; n < 600; ++n) {
      auto r = table.find(std::to_string(i) + "-" + std::to_string(n), rates, kNow);
      if (r) r->requests.take(kNow);
      (r ? tracked : refused)++;
      if (r) held[i].push_back(std::move(r));
    }
  });
  CHECK(tracked == 1000);
  CHECK(refused == kThreads * 600 - 1000);
  CHECK(table.size() == 1000);
  CHECK(table.find("someone new", rates, kNow) == nullptr);
}

TEST_CASE("limit table: a full table forgets records that are back to full and unheld, and only those") {
  LimitTable table(2);
  Rates rates{60, 0, 0};
  auto busy = table.find("busy", rates, kNow);
  busy->requests.take(kNow);  // held and not full: kept
  {
    auto idle = table.find("idle", rates, kNow);
    idle->requests.take(kNow);
  }
  CHECK(table.find("new", rates, kNow) == nullptr);  // "idle" has not refilled yet
  uint64_t later = kNow + 2 * 60000000000ull;     // a full minute on: "idle" is back to full
  auto fresh = table.find("new", rates, later);
  REQUIRE(fresh);
  CHECK(table.size() == 2);
  CHECK(table.find("busy", rates, later) == busy);  // still the same record, debt and all
}

// One table serves every tenant: a tenant whose callers name new users fills it for itself
// only. Past max_keys a tenant holding less than an equal share still adds keys, up to twice the
// bound in all; the one holding more is refused.
TEST_CASE("limit table: past max_keys a tenant below its share still adds keys, the one holding the table does not") {
  LimitTable table(4);
  Rates rates{1, 0, 0};  // a minute to refill: nothing is idle within the test
  std::vector<std::shared_ptr<LimitRecord>> held;
  for (int i = 0; i < 4; ++i) {
    auto r = table.find("hog/user" + std::to_string(i), rates, kNow);
    REQUIRE(r);
    r->requests.take(kNow);
    held.push_back(r);
  }
  auto add = [&](const std::string& key) {
    auto r = table.find(key, rates, kNow);
    if (r) held.push_back(r);  // held, as a request in flight does: not idle
    return r != nullptr;
  };
  CHECK_FALSE(add("hog/user-new"));  // it holds the whole table
  CHECK(add("fair/alice"));          // a share of 4 / 2 tenants
  CHECK(add("fair/bob"));
  CHECK_FALSE(add("fair/carol"));    // its share is used
  CHECK(add("third/dave"));          // 4 / 3 tenants: one key
  CHECK_FALSE(add("third/erin"));
  CHECK(table.size() == 7);
  CHECK(table.find("hog/user0", rates, kNow) == held[0]);  // keys it holds are still found
}

namespace {

outrigger_settlement settlement(outrigger_code code, const char* target, bool reached, uint32_t prompt, uint32_t completion,
                                double usd) {
  outrigger_settlement s{};
  s.hdr = OUTRIGGER_HEADER_INIT(outrigger_settlement);
  s.code = code;
  s.target = {target, std::char_traits<char>::length(target)};
  s.reached_upstream = reached;
  s.usage.prompt_tokens = prompt;
  s.usage.completion_tokens = completion;
  s.cost_usd = usd;
  return s;
}

}  // namespace

// The host settles a request that made no attempt (a cache hit, a degraded answer) once, empty,
// with the request's code: OK for a hit. It used no tokens, so none stay charged.
TEST_CASE("attempt tally: a request that made no attempt owes nothing, even when it ended OK") {
  AttemptTally hit;
  hit.charged = 75;
  hit.add(settlement(OUTRIGGER_CODE_OK, "", false, 0, 0, 0));
  CHECK_FALSE(hit.attempted);
  CHECK(hit.owed() == 0);

  AttemptTally answered;
  answered.charged = 75;
  answered.add(settlement(OUTRIGGER_CODE_UNAVAILABLE, "mock/a", true, 0, 0, 0));
  answered.add(settlement(OUTRIGGER_CODE_OK, "mock/b", true, 10, 5, 0.01));
  CHECK(answered.attempted);
  CHECK(answered.owed() == 15);
  CHECK(answered.spent_usd == Approx(0.01));
}

TEST_CASE("attempt tally: an attempt cut short in flight without usage owes the charge and its worst case in USD") {
  AttemptTally cut;
  cut.charged = 120;
  cut.cut_short_usd = 0.25;
  cut.add(settlement(OUTRIGGER_CODE_CANCELLED, "mock/a", true, 0, 0, 0));
  CHECK(cut.owed() == 120);
  CHECK(cut.spent_usd == Approx(0.25));
  AttemptTally reported;  // usage arrived before the cut: what it reported is what it cost
  reported.charged = 120;
  reported.cut_short_usd = 0.25;
  reported.add(settlement(OUTRIGGER_CODE_CANCELLED, "mock/a", true, 30, 4, 0.03));
  CHECK(reported.spent_usd == Approx(0.03));
  AttemptTally never_sent;  // cancelled before it reached the upstream: nothing billed
  never_sent.cut_short_usd = 0.25;
  never_sent.add(settlement(OUTRIGGER_CODE_CANCELLED, "mock/a", false, 0, 0, 0));
  CHECK(never_sent.spent_usd == 0);
}
