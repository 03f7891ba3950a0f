// limiter.budget's logic without a daemon: calendar and rolling windows, reservations that hold
// room for requests in flight, settlements to the real cost, the soft threshold, and spending
// kept in SQLite across a new ledger (a restart). Times are fixed Unix milliseconds.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <atomic>
#include <thread>
#include <vector>

#include "budget_ledger.h"
#include "budget_window.h"
#include "support/daemon_process.h"

using namespace outrigger::budget;

namespace {

// 2026-12-02T21:30:00Z.
constexpr int64_t kNow = 1796247000000;
constexpr int64_t kHour = 3600000;

int64_t at(int64_t y, unsigned m, unsigned d, int64_t seconds = 0) { return (daysFromCivil(y, m, d) * 86400 + seconds) * 1000; }

BudgetPolicy usdPolicy(double limit, WindowKind kind = WindowKind::kDaily, int64_t seconds = 0) {
  BudgetPolicy p;
  p.name = "team";
  p.key_label = "tenant";
  p.window = {kind, seconds};
  p.limit_usd = limit;
  return p;
}

std::shared_ptr<Ledger> memoryLedger(const BudgetPolicy& p) {
  std::string error;
  auto ledger = Ledger::create(p, nullptr, kNow, &error);
  REQUIRE(ledger);
  return ledger;
}

}  // namespace

TEST_CASE("budget window: days and months are UTC calendar periods, and their ends are the resets") {
  WindowSpec daily{WindowKind::kDaily, 0};
  CHECK(isoUtc(kNow) == "2026-12-02T21:30:00Z");
  CHECK(daily.bucketStart(kNow) * 1000 == at(2026, 12, 2));
  CHECK(daily.expiresMs(daily.bucketStart(kNow)) == at(2026, 12, 3));

  WindowSpec monthly{WindowKind::kMonthly, 0};
  CHECK(monthly.bucketStart(kNow) * 1000 == at(2026, 12, 1));
  CHECK(isoUtc(monthly.expiresMs(monthly.bucketStart(kNow))) == "2027-01-01T00:00:00Z");
  int64_t feb = at(2028, 2, 29, 3600);  // a leap day
  CHECK(isoUtc(monthly.bucketStart(feb) * 1000) == "2028-02-01T00:00:00Z");
  CHECK(isoUtc(monthly.expiresMs(monthly.bucketStart(feb))) == "2028-03-01T00:00:00Z");
  CHECK(monthly.counts(monthly.bucketStart(feb), at(2028, 2, 29, 86399)));
  CHECK_FALSE(monthly.counts(monthly.bucketStart(feb), at(2028, 3, 1)));
}

TEST_CASE("budget window: a rolling window counts a bucket until the window has passed its end") {
  WindowSpec rolling{WindowKind::kRolling, 3600};  // 60 buckets of a minute
  int64_t start = rolling.bucketStart(kNow + 30000);
  CHECK(start * 1000 == kNow);
  CHECK(rolling.bucketSeconds(start) == 60);
  CHECK(rolling.counts(start, kNow + kHour));
  CHECK(rolling.counts(start, kNow + kHour + 59999));
  CHECK_FALSE(rolling.counts(start, kNow + kHour + 60000));
}

TEST_CASE("budget ledger: a reservation holds room until it settles, so concurrent admissions cannot overspend") {
  auto ledger = memoryLedger(usdPolicy(1.0));
  Amount worst{0.3, 0};
  CHECK(ledger->reserve("acme", worst, kNow).admitted);
  CHECK(ledger->reserve("acme", worst, kNow).admitted);
  CHECK(ledger->reserve("acme", worst, kNow).admitted);
  Verdict fourth = ledger->reserve("acme", worst, kNow);
  CHECK_FALSE(fourth.admitted);
  CHECK(fourth.retry_after_ms == 1000);  // frees when one in flight settles, not at the reset
  CHECK(fourth.reason.find("reserved by requests in flight") != std::string::npos);
  CHECK(ledger->reserve("globex", worst, kNow).admitted);  // keys are apart

  ledger->settle("acme", worst, Amount{0.1, 0}, kNow);  // answered for less than reserved
  CHECK(ledger->spent("acme", kNow).usd == Approx(0.1));
  CHECK(ledger->reserved("acme").usd == Approx(0.6));
  CHECK(ledger->reserve("acme", worst, kNow).admitted);
}

TEST_CASE("budget ledger: a failed attempt returns its reservation, an answer dearer than reserved is charged in full") {
  auto ledger = memoryLedger(usdPolicy(1.0));
  Amount worst{0.4, 0};
  REQUIRE(ledger->reserve("acme", worst, kNow).admitted);
  ledger->settle("acme", worst, Amount{}, kNow);  // the attempt failed: nothing used
  CHECK(ledger->spent("acme", kNow).usd == 0);
  CHECK(ledger->reserved("acme").usd == 0);

  REQUIRE(ledger->reserve("acme", worst, kNow).admitted);
  ledger->settle("acme", worst, Amount{0.9, 0}, kNow);  // the prompt was larger than estimated
  CHECK(ledger->spent("acme", kNow).usd == Approx(0.9));
  CHECK(ledger->reserved("acme").usd == 0);
}

TEST_CASE("budget ledger: once spent, admission refuses until the calendar window resets, and says when") {
  auto ledger = memoryLedger(usdPolicy(1.0));
  REQUIRE(ledger->reserve("acme", {0.5, 0}, kNow).admitted);
  ledger->settle("acme", {0.5, 0}, {1.0, 0}, kNow);
  Verdict v = ledger->reserve("acme", {0.01, 0}, kNow + 1000);
  CHECK_FALSE(v.admitted);
  CHECK(v.retry_after_ms == at(2026, 12, 3) - (kNow + 1000));
  CHECK(v.reason == "budget \"team\" (daily, 1 USD) for tenant \"acme\": 1 USD spent; resets at 2026-12-03T00:00:00Z");
  CHECK(ledger->reserve("acme", {0.01, 0}, at(2026, 12, 3)).admitted);  // a new day
  CHECK(ledger->spent("acme", at(2026, 12, 3)).usd == 0);
}

TEST_CASE("budget ledger: a rolling window frees spending bucket by bucket, and waits for the one that frees enough") {
  auto ledger = memoryLedger(usdPolicy(100, WindowKind::kRolling, 3600));
  ledger->settle("acme", {}, {60, 0}, kNow);
  ledger->settle("acme", {}, {30, 0}, kNow + 10 * 60000);
  Verdict v = ledger->reserve("acme", {20, 0}, kNow + 20 * 60000);
  CHECK_FALSE(v.admitted);
  // 60 + 30 spent: the first bucket (a minute from kNow) leaving the window makes room for 20.
  CHECK(v.retry_after_ms == (kNow + 60000 + kHour) - (kNow + 20 * 60000));
  CHECK(ledger->spent("acme", kNow + kHour + 60000).usd == Approx(30));
  CHECK(ledger->reserve("acme", {20, 0}, kNow + kHour + 60000).admitted);
}

TEST_CASE("budget ledger: tokens are limited like USD, and a request larger than the whole budget is told so") {
  BudgetPolicy p = usdPolicy(0);
  p.limit_tokens = 1000;
  auto ledger = memoryLedger(p);
  Verdict v = ledger->reserve("acme", {0, 5000}, kNow);
  CHECK_FALSE(v.admitted);
  CHECK(v.reason.find("worst case of 5000 tokens exceeds the whole budget") != std::string::npos);
  CHECK(v.never);                 // no window frees room for it: not a retryable refusal
  CHECK(v.retry_after_ms == 0);
  CHECK(v.reason.find("resets at") == std::string::npos);
  CHECK(ledger->reserve("acme", {0, 600}, kNow).admitted);
  CHECK_FALSE(ledger->reserve("acme", {0, 600}, kNow).admitted);
}

TEST_CASE("budget ledger: a rolling window longer than 49 days names its true reset, and caps only retry_after") {
  for (int days : {60, 366}) {
    auto ledger = memoryLedger(usdPolicy(100, WindowKind::kRolling, int64_t(days) * 86400));
    ledger->settle("acme", {}, {100, 0}, kNow);
    Verdict v = ledger->reserve("acme", {1, 0}, kNow + 1000);
    CHECK_FALSE(v.admitted);
    CHECK_FALSE(v.never);
    CHECK(v.retry_after_ms == UINT32_MAX);  // the most the field holds
    // The spending leaves the window with its bucket, `days` on: the reason says when.
    WindowSpec window{WindowKind::kRolling, int64_t(days) * 86400};
    INFO(v.reason);
    CHECK(v.reason.find("resets at " + isoUtc(window.expiresMs(window.bucketStart(kNow)))) != std::string::npos);
  }
}

TEST_CASE("budget ledger: the soft threshold is reported once per key and window") {
  BudgetPolicy p = usdPolicy(10);
  p.soft_percent = 80;
  auto ledger = memoryLedger(p);
  CHECK_FALSE(ledger->settle("acme", {}, {7.9, 0}, kNow).soft_crossed);
  CHECK(ledger->settle("acme", {}, {0.2, 0}, kNow).soft_crossed);
  CHECK_FALSE(ledger->settle("acme", {}, {0.5, 0}, kNow).soft_crossed);
  CHECK(ledger->settle("globex", {}, {9, 0}, kNow).soft_crossed);
  CHECK(ledger->settle("acme", {}, {9, 0}, at(2026, 12, 3)).soft_crossed);  // the next day's window
  CHECK(ledger->softCrossings() == 3);
}

TEST_CASE("budget ledger: 64 threads reserving at once never promise more than the budget") {
  auto ledger = memoryLedger(usdPolicy(1.0));
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 64; ++i) {
    threads.emplace_back([&] {
      Amount worst{0.05, 0};
      if (!ledger->reserve("acme", worst, kNow).admitted) return;
      ++admitted;
      ledger->settle("acme", worst, worst, kNow);  // each costs its whole worst case
    });
  }
  for (auto& t : threads) t.join();
  CHECK(admitted == 20);
  CHECK(ledger->spent("acme", kNow).usd <= 1.0 + 1e-9);
}

TEST_CASE("budget ledger: a full ledger refuses a new key, and looks for keys holding nothing at most once a second") {
  BudgetPolicy p = usdPolicy(10.0);
  p.max_keys = 2;
  auto ledger = memoryLedger(p);
  REQUIRE(ledger->reserve("a", {1.0, 0}, kNow).admitted);
  REQUIRE(ledger->reserve("b", {1.0, 0}, kNow).admitted);
  Verdict full = ledger->reserve("c", {1.0, 0}, kNow + 10);
  CHECK_FALSE(full.admitted);
  CHECK(full.reason.find("tracks 2 tenant keys already") != std::string::npos);
  ledger->settle("a", {1.0, 0}, {0, 0}, kNow + 20);  // "a" holds nothing now
  CHECK_FALSE(ledger->reserve("c", {1.0, 0}, kNow + 30).admitted);  // no second sweep within the second
  CHECK(ledger->reserve("c", {1.0, 0}, kNow + 1010).admitted);      // the next one forgets "a"
  CHECK(ledger->reserved("a").usd == 0);
  CHECK(ledger->reserved("b").usd == Approx(1.0));
}

// Sums of doubles do not come back to 0: 0.1 + 0.2 - 0.1 - 0.2 leaves 5.5e-17 reserved, which
// kept the key from ever being forgotten, and a full ledger then refused every new key.
TEST_CASE("budget ledger: a key whose reservations all settled holds nothing, whatever the rounding, and can go") {
  BudgetPolicy p = usdPolicy(10.0);
  p.max_keys = 1;
  auto ledger = memoryLedger(p);
  REQUIRE(ledger->reserve("a", {0.1, 3}, kNow).admitted);
  REQUIRE(ledger->reserve("a", {0.2, 7}, kNow).admitted);
  ledger->settle("a", {0.1, 3}, {0, 0}, kNow + 1);
  CHECK(ledger->reserved("a").usd == Approx(0.2));
  ledger->settle("a", {0.2, 7}, {0, 0}, kNow + 2);
  CHECK(ledger->reserved("a").usd == 0);
  CHECK(ledger->reserved("a").tokens == 0);
  CHECK(ledger->reserve("b", {1.0, 0}, kNow + 1010).admitted);  // "a" is forgotten
}

// Its keys hold spending for the day: a retry in a second would only be refused again.
TEST_CASE("budget ledger: a full ledger says to retry when a key can go: its window's end for spending, a second for reservations") {
  BudgetPolicy p = usdPolicy(10.0);
  p.max_keys = 2;
  auto ledger = memoryLedger(p);
  REQUIRE(ledger->reserve("a", {1.0, 0}, kNow).admitted);
  REQUIRE(ledger->reserve("b", {1.0, 0}, kNow).admitted);
  Verdict in_flight = ledger->reserve("c", {1.0, 0}, kNow + 10);
  CHECK_FALSE(in_flight.admitted);
  CHECK(in_flight.retry_after_ms == 1000);  // a reservation goes when its request ends
  ledger->settle("a", {1.0, 0}, {0.5, 0}, kNow + 20);
  ledger->settle("b", {1.0, 0}, {0.5, 0}, kNow + 20);
  Verdict spent = ledger->reserve("c", {1.0, 0}, kNow + 2000);
  CHECK_FALSE(spent.admitted);
  const int64_t day_end = p.window.expiresMs(p.window.bucketStart(kNow));
  CHECK(spent.retry_after_ms == uint32_t(day_end - (kNow + 2000)));
  CHECK(spent.retry_after_ms > 1000);
  // Then the day is over: keys whose spending left the window are forgotten, in memory too (the
  // unwritten mark only a store clears kept them for good, and the ledger full).
  CHECK(ledger->reserve("c", {1.0, 0}, day_end + 1500).admitted);
}

TEST_CASE("budget ledger: past max_keys a tenant below its share still adds keys, the one holding the ledger does not") {
  BudgetPolicy p = usdPolicy(10.0);
  p.max_keys = 2;
  auto ledger = memoryLedger(p);
  REQUIRE(ledger->reserve("hog/u1", {1.0, 0}, kNow).admitted);
  REQUIRE(ledger->reserve("hog/u2", {1.0, 0}, kNow).admitted);
  CHECK_FALSE(ledger->reserve("hog/u3", {1.0, 0}, kNow + 10).admitted);
  CHECK(ledger->reserve("fair/alice", {1.0, 0}, kNow + 20).admitted);  // a share of 2 / 2 tenants
  CHECK_FALSE(ledger->reserve("fair/bob", {1.0, 0}, kNow + 30).admitted);
  CHECK(ledger->reserved("hog/u1").usd == Approx(1.0));
}

TEST_CASE("budget ledger: spending persists in SQLite and a new ledger (a restart) starts from it") {
  std::string path = outrigger::testing::makeTempDir() + "/budget.db";
  BudgetPolicy p = usdPolicy(1.0);
  p.soft_percent = 50;
  std::string error;
  {
    auto store = SqliteSpendStore::open(path, &error);
    REQUIRE(store);
    auto ledger = Ledger::create(p, std::move(store), kNow, &error);
    REQUIRE(ledger);
    REQUIRE(ledger->reserve("acme", {0.5, 100}, kNow).admitted);
    REQUIRE(ledger->reserve("acme", {0.3, 100}, kNow).admitted);  // in flight at the restart: dropped
    ledger->settle("acme", {0.5, 100}, {0.7, 900}, kNow);
    CHECK(ledger->flush(kNow));
  }
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT usd, tokens, soft_warned FROM budget_spend WHERE budget='team' AND key='acme'", -1, &q, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(q) == SQLITE_ROW);
  CHECK(sqlite3_column_double(q, 0) == Approx(0.7));
  CHECK(sqlite3_column_double(q, 1) == Approx(900));
  CHECK(sqlite3_column_int(q, 2) == 1);
  sqlite3_finalize(q);
  sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, nullptr);
  REQUIRE(sqlite3_step(q) == SQLITE_ROW);
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(q, 0))) == "wal");
  sqlite3_finalize(q);
  sqlite3_close(db);

  auto ledger = Ledger::create(p, SqliteSpendStore::open(path, &error), kNow + 1000, &error);
  REQUIRE(ledger);
  CHECK(ledger->spent("acme", kNow + 1000).usd == Approx(0.7));
  CHECK(ledger->reserved("acme").usd == 0);
  CHECK_FALSE(ledger->reserve("acme", {0.4, 0}, kNow + 1000).admitted);
  CHECK_FALSE(ledger->settle("acme", {}, {0.1, 0}, kNow + 1000).soft_crossed);  // reported before the restart
  // The next day the stored spending no longer counts.
  auto tomorrow = Ledger::create(p, SqliteSpendStore::open(path, &error), at(2026, 12, 3, 60), &error);
  CHECK(tomorrow->spent("acme", at(2026, 12, 3, 60)).usd == 0);
}

TEST_CASE("budget ledger: the flusher thread writes changed spending without being asked") {
  std::string path = outrigger::testing::makeTempDir() + "/budget.db";
  std::string error;
  auto ledger = Ledger::create(usdPolicy(1.0), SqliteSpendStore::open(path, &error), kNow, &error);
  REQUIRE(ledger);
  ledger->startFlusher(std::chrono::milliseconds(10), [] { return kNow; });
  ledger->settle("acme", {}, {0.25, 0}, kNow);
  double stored = 0;
  for (int i = 0; i < 500 && stored == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    auto reader = Ledger::create(usdPolicy(1.0), SqliteSpendStore::open(path, &error), kNow, &error);
    stored = reader->spent("acme", kNow).usd;
  }
  CHECK(stored == Approx(0.25));
}

namespace {

// A store in memory that can be told to fail its writes; it counts the rows each write was given.
class FakeStore final : public SpendStore {
 public:
  std::vector<SpendRow> rows;
  bool failing = false;
  std::vector<size_t> written;
  bool load(const std::string&, int64_t since, std::vector<SpendRow>* out, std::string*) override {
    for (const SpendRow& r : rows) {
      if (r.start >= since) out->push_back(r);
    }
    return true;
  }
  bool write(const std::string&, const std::vector<SpendRow>& in, int64_t, int64_t, std::string* error) override {
    written.push_back(in.size());
    if (failing) {
      *error = "disk full";
      return false;
    }
    rows.insert(rows.end(), in.begin(), in.end());
    return true;
  }
};

}  // namespace

// Keys past max_keys (tenants' shares allow up to twice as many, and a reload may lower it) were
// left out at the restart: admitted afresh, their first write replaced the stored spending.
TEST_CASE("budget ledger: a restart brings back every key with spending in its window, past max_keys too") {
  BudgetPolicy p = usdPolicy(1.0);
  p.key_label = "user";
  p.max_keys = 2;
  auto store = std::make_unique<FakeStore>();
  int64_t day = WindowSpec{WindowKind::kDaily, 0}.bucketStart(kNow);
  for (const char* key : {"a/1", "a/2", "b/1"}) store->rows.push_back({key, day, 1.0, 0, false});
  std::string error;
  auto ledger = Ledger::create(p, std::move(store), kNow, &error);
  REQUIRE(ledger);
  for (const char* key : {"a/1", "a/2", "b/1"}) {
    INFO(key);
    CHECK(ledger->spent(key, kNow).usd == Approx(1.0));
    CHECK_FALSE(ledger->reserve(key, {0.1, 0}, kNow).admitted);
  }
}

TEST_CASE("budget ledger: while the store fails, the rows kept for it stay one per bucket") {
  auto store = std::make_unique<FakeStore>();
  FakeStore* fake = store.get();
  fake->failing = true;
  std::string error;
  auto ledger = Ledger::create(usdPolicy(100.0), std::move(store), kNow, &error);
  REQUIRE(ledger);
  for (int i = 0; i < 20; ++i) {
    ledger->settle("acme", {}, {0.01, 0}, kNow + i);
    CHECK_FALSE(ledger->flush(kNow + i));
  }
  REQUIRE(fake->written.size() == 20);
  CHECK(fake->written.back() == 1);
  fake->failing = false;
  CHECK(ledger->flush(kNow + 30));
  REQUIRE(fake->rows.size() == 1);
  CHECK(fake->rows[0].usd == Approx(0.2));
}
