// limiter.loop_guard's table without a daemon: each rule trips on its own, names itself, is
// counted, and lets the key go again once the rolling window has passed. Times are fixed.
#include <catch2/catch.hpp>

#include "loop_table.h"

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

TEST_CASE("loop table: a full table forgets keys with nothing in the window, and refuses while none has") {
  Rules r = rules(10, 0, 0, 0);
  r.max_keys = 2;
  LoopTable t(r);
  REQUIRE(t.admit("a", "a", 1, kNow).admitted);
  REQUIRE(t.admit("b", "b", 1, kNow + 1000).admitted);
  Check c = t.admit("c", "c", 1, kNow + 2000);
  CHECK(c.rule == Rule::kKeys);
  CHECK(t.admit("c", "c", 1, kNow + 60001).admitted);  // "a" has nothing left in the window
  CHECK(t.size() == 2);
}
