// limiter.loop_guard's table without a daemon: each rule trips on its own, names itself, is
// counted, and lets the key go again once the rolling window has passed. Times are fixed.
#include <catch2/catch.hpp>

#include <string>

#include "loop_table.h"
#include "support/resident_memory.h"

using namespace outrigger::loop_guard;

namespace {

constexpr int64_t kNow = 1000000;

Rules rules(uint32_t calls, double tokens, double usd, uint32_t repeats) {
  Rules r;
  r.window_ms = 60000;
  r.max_calls = calls;
  r.max_tokens = tokens;
  r.max_usd = usd;
  r.max_repeats = repeats;
  return r;
}

}  // namespace

TEST_CASE("loop table: the same request repeated past max_repeats is refused, a different one is not") {
  LoopTable t(rules(0, 0, 0, 3));
  for (int i = 0; i < 3; ++i) REQUIRE(t.admit("s-1", "session \"s-1\"", 42, kNow + i * 1000).admitted);
  Check c = t.admit("s-1", "session \"s-1\"", 42, kNow + 5000);
  CHECK_FALSE(c.admitted);
  CHECK(c.rule == Rule::kRepeats);
  CHECK(c.reason == "loop guard: session \"s-1\" sent the same request 3 times in 60 s (max_repeats 3)");
  CHECK(c.retry_after_ms == 60000 - 5000 + 1);  // when the first of them leaves the window
  CHECK(t.admit("s-1", "session \"s-1\"", 43, kNow + 5000).admitted);
  CHECK(t.admit("s-2", "session \"s-2\"", 42, kNow + 5000).admitted);
  CHECK(t.admit("s-1", "session \"s-1\"", 42, kNow + 60001).admitted);  // the first left the window
  CHECK(t.refusals(Rule::kRepeats) == 1);
}

TEST_CASE("loop table: max_calls counts every admitted call in the rolling window") {
  LoopTable t(rules(2, 0, 0, 0));
  CHECK(t.admit("s", "session \"s\"", 1, kNow).admitted);
  CHECK(t.admit("s", "session \"s\"", 2, kNow + 30000).admitted);
  Check c = t.admit("s", "session \"s\"", 3, kNow + 40000);
  CHECK_FALSE(c.admitted);
  CHECK(c.rule == Rule::kCalls);
  CHECK(c.reason.find("(max_calls 2)") != std::string::npos);
  CHECK(t.admit("s", "session \"s\"", 3, kNow + 60001).admitted);
  CHECK(t.refusals(Rule::kCalls) == 1);
}

TEST_CASE("loop table: tokens and USD used by finished requests trip max_tokens and max_usd") {
  LoopTable t(rules(0, 1000, 0.5, 0));
  REQUIRE(t.admit("s", "session \"s\"", 1, kNow).admitted);
  t.charge("s", 1200, 0.1, kNow + 100);
  Check c = t.admit("s", "session \"s\"", 2, kNow + 200);
  CHECK(c.rule == Rule::kTokens);
  CHECK(c.reason == "loop guard: session \"s\" used 1200 tokens in 60 s (max_tokens 1000)");
  LoopTable u(rules(0, 0, 0.5, 0));
  REQUIRE(u.admit("s", "session \"s\"", 1, kNow).admitted);
  u.charge("s", 10, 0.75, kNow + 100);
  Check d = u.admit("s", "session \"s\"", 2, kNow + 200);
  CHECK(d.rule == Rule::kUsd);
  CHECK(d.reason.find("used 0.75 USD in 60 s (max_usd 0.5)") != std::string::npos);
  CHECK(u.admit("s", "session \"s\"", 2, kNow + 100 + 60000).admitted);
  CHECK(u.refusals(Rule::kUsd) == 1);
}

TEST_CASE("loop table: past max_keys the least recently active key is forgotten, and a busy one kept") {
  Rules r = rules(2, 0, 0, 0);
  r.max_keys = 2;
  LoopTable t(r);
  REQUIRE(t.admit("a", "a", 1, kNow).admitted);
  REQUIRE(t.admit("b", "b", 1, kNow + 1000).admitted);
  REQUIRE(t.admit("a", "a", 2, kNow + 2000).admitted);  // "a" is the most recent, at its max_calls
  CHECK(t.admit("c", "c", 1, kNow + 3000).admitted);    // a new key is never refused for room
  CHECK(t.evictions() == 1);
  CHECK(t.size() == 2);
  Check busy = t.admit("a", "a", 3, kNow + 4000);  // "b" made room, "a" kept its calls
  CHECK_FALSE(busy.admitted);
  CHECK(busy.rule == Rule::kCalls);
  CHECK(t.admit("b", "b", 1, kNow + 5000).admitted);  // forgotten, so new again
  CHECK(t.evictions() == 2);
}

TEST_CASE("loop table: repeats leave the count as they leave the window, and a reload that turns max_repeats on counts the calls logged") {
  LoopTable t(rules(100, 0, 0, 2));
  REQUIRE(t.admit("s", "s", 7, kNow).admitted);
  REQUIRE(t.admit("s", "s", 7, kNow + 30000).admitted);
  Check c = t.admit("s", "s", 7, kNow + 40000);
  REQUIRE_FALSE(c.admitted);
  CHECK(c.retry_after_ms == 20001);  // when the first of the two leaves the window
  CHECK(t.admit("s", "s", 7, kNow + 60001).admitted);  // one left, one came in
  CHECK_FALSE(t.admit("s", "s", 7, kNow + 60002).admitted);

  LoopTable u(rules(100, 0, 0, 0));
  REQUIRE(u.admit("s", "s", 9, kNow).admitted);
  REQUIRE(u.admit("s", "s", 9, kNow + 1).admitted);
  u.setRules(rules(100, 0, 0, 2));
  CHECK_FALSE(u.admit("s", "s", 9, kNow + 2).admitted);
}

TEST_CASE("loop table: an instance's rules apply at its first admit, and an older instance never puts its own back") {
  LoopTable t(rules(1, 0, 0, 0));  // the first instance's: one call a window
  t.useRules(2, rules(3, 0, 0, 0));  // a reload's instance admits: three
  REQUIRE(t.admit("s", "s", 1, kNow).admitted);
  REQUIRE(t.admit("s", "s", 2, kNow + 1).admitted);
  t.useRules(1, rules(1, 0, 0, 0));  // the old instance admits a request from before the reload
  CHECK(t.admit("s", "s", 3, kNow + 2).admitted);  // still three
  CHECK_FALSE(t.admit("s", "s", 4, kNow + 3).admitted);
}

using outrigger::testing::grownSince;
using outrigger::testing::kRssMeasurable;
using outrigger::testing::residentBytes;

TEST_CASE("loop table: a hundred thousand sessions of one call each take under 40 MB") {
  // Two std::deques a key took about 1.4 KB each before their first entry: 140 MB here.
  Rules r = rules(0, 1000, 0, 0);
  LoopTable t(r);
  size_t before = residentBytes();
  for (int i = 0; i < 100000; ++i) {
    std::string key = "session-" + std::to_string(i);
    REQUIRE(t.admit(key, key, 1, kNow + i).admitted);
    t.charge(key, 10, 0, kNow + i);
  }
  CHECK(t.size() == 100000);
  if (kRssMeasurable) CHECK(grownSince(before) < (40u << 20));
}
