// ABI 1.2 instance loop access on a real loop: a probe instance posts, sets timers and watches
// fds on its worker's loop without a request; every callback gets exactly one final call, and
// an instance torn down with live timers and watches ends them all before its destroy runs.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>

#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <outrigger/plugin.hpp>

#include "chain/chain.h"
#include "chain/engine.h"
#include "chain/host_api.h"
#include "plugin/schema.h"
#include "support/in_test_plugins.h"

using namespace outrigger;
using outrigger::testing::passingGuardrailType;
using outrigger::testing::typeFor;

namespace {

// Everything the probe's callbacks and destroy did, in order.
std::vector<std::string> g_events;
const outrigger_host_api* g_api = nullptr;  // the last probe instance's host table

// One callback's user data: how often it ran with each status, and where.
struct Rec {
  explicit Rec(std::string n) : name(std::move(n)) {}
  std::string name;
  int ok = 0;
  int stale = 0;
  int other = 0;
  uint32_t ready = 0;  // fd events of the last OK call
  bool on_loop = true;
  event::EventLoop* expected = nullptr;
  std::thread::id thread;
  bool (*on_ok)(Rec*) = nullptr;  // runs inside an OK call; true records nothing more
  uint64_t id = 0;
  int fd = -1;
};

void record(Rec* r, outrigger_status st) {
  if (r->expected && event::EventLoop::current() != r->expected) r->on_loop = false;
  r->thread = std::this_thread::get_id();
  if (st == OUTRIGGER_OK) {
    ++r->ok;
    g_events.push_back(r->name + ":ok");
  } else if (st == OUTRIGGER_E_STALE) {
    ++r->stale;
    g_events.push_back(r->name + ":stale");
  } else {
    ++r->other;
  }
}

void onCall(void* user_data, outrigger_status st) noexcept {
  auto* r = static_cast<Rec*>(user_data);
  record(r, st);
  if (st == OUTRIGGER_OK && r->on_ok) r->on_ok(r);
}

void onFd(void* user_data, int fd, uint32_t ready, outrigger_status st) noexcept {
  auto* r = static_cast<Rec*>(user_data);
  if (fd != r->fd) ++r->other;
  if (st == OUTRIGGER_OK) {
    r->ready = ready;
    if (ready & OUTRIGGER_FD_READABLE) {
      char c;
      (void)::read(fd, &c, 1);  // level-triggered: drain what woke us
    }
  }
  record(r, st);
  if (st == OUTRIGGER_OK && r->on_ok) r->on_ok(r);
}

// A guardrail that does nothing by itself: the tests drive its host table.
outrigger_status createProbe(const outrigger_host_api* host, outrigger_str, outrigger_str, void** inst,
                             outrigger_error*) noexcept {
  g_api = host;
  *inst = const_cast<outrigger_host_api*>(host);
  return OUTRIGGER_OK;
}

void destroyProbe(void*) noexcept { g_events.push_back("destroy"); }

const outrigger_plugin_type kPerWorker = passingGuardrailType(&createProbe, &destroyProbe);
const outrigger_plugin_type kShared = passingGuardrailType(&createProbe, &destroyProbe, OUTRIGGER_CAP_SHARED_INSTANCE);

struct Rig {
  event::EventLoop loop{50};
  chain::Engine engine{loop, {60000, 600000, 1000000}, nullptr};
  plugin::PluginType type;
  std::shared_ptr<plugin::PluginInstance> instance;
  const outrigger_host_api* api = nullptr;
  void* ctx = nullptr;

  explicit Rig(const outrigger_plugin_type* c = &kPerWorker, bool install = true) : type(typeFor(c)) {
    g_events.clear();
    config::InstanceSettings is{"probe", "guardrail", "probe", "{}", config::OnError::kDeny, "t:1", {}};
    instance = plugin::PluginInstance::create(type, is, chain::hostApiTemplate()).value();
    api = g_api;
    ctx = api->host_ctx;
    if (install) this->install();
  }
  ~Rig() {
    engine.setChain(nullptr);
    instance.reset();
    loop.runUntilForTest([] { return false; }, 5);
  }

  // The worker installs a chain holding the instance: this binds it to the loop.
  void install() {
    auto chain = std::make_shared<chain::WorkerChain>();
    chain::Route r;
    r.name = "default";
    r.guardrails.push_back({instance, "guardrail/probe"});
    chain->routes.emplace("default", std::move(r));
    chain->default_route = "default";
    engine.setChain(chain);
  }
  // Drops every reference the test holds: the engine's chain and the rig's own.
  void release() {
    engine.setChain(nullptr);
    instance.reset();
  }

  template <class F>
  void onLoop(F&& f) {
    loop.runUntilForTest([&] {
      f();
      return true;
    }, 1000);
  }
  bool runUntil(const std::function<bool()>& done, uint64_t ms = 2000) { return loop.runUntilForTest(done, ms); }
  void runFor(uint64_t ms) { loop.runUntilForTest([] { return false; }, ms); }
  bool destroyed() const {
    for (const auto& e : g_events) {
      if (e == "destroy") return true;
    }
    return false;
  }

  outrigger_status timer(uint32_t delay, uint32_t repeat, Rec* r, uint64_t* id) {
    r->expected = &loop;
    return api->instance_timer(ctx, delay, repeat, &onCall, r, id);
  }
  outrigger_status watch(int fd, uint32_t events, Rec* r, uint64_t* id) {
    r->expected = &loop;
    r->fd = fd;
    return api->watch_fd(ctx, fd, events, &onFd, r, id);
  }
};

struct SocketPair {
  int fd[2] = {-1, -1};
  SocketPair() { REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fd) == 0); }
  ~SocketPair() {
    for (int f : fd) ::close(f);
  }
};

int indexOf(const std::string& event) {
  for (size_t i = 0; i < g_events.size(); ++i) {
    if (g_events[i] == event) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

TEST_CASE("instance_post from another thread runs on the instance's loop") {
  Rig rig;
  Rec rec{"post"};
  rec.expected = &rig.loop;
  outrigger_status st = OUTRIGGER_E_INTERNAL;
  std::thread other([&] { st = rig.api->instance_post(rig.ctx, &onCall, &rec); });
  other.join();
  REQUIRE(st == OUTRIGGER_OK);
  CHECK(rec.ok == 0);  // not on the posting thread
  REQUIRE(rig.runUntil([&] { return rec.ok + rec.stale > 0; }));
  CHECK(rec.ok == 1);
  CHECK(rec.stale == 0);
  CHECK(rec.on_loop);
  CHECK(rec.thread == std::this_thread::get_id());  // the thread driving the loop
}

TEST_CASE("a repeating timer fires until cancelled, then makes exactly one final STALE call") {
  Rig rig;
  Rec rec{"tick"};
  uint64_t id = 0;
  rig.onLoop([&] { REQUIRE(rig.timer(1, 1, &rec, &id) == OUTRIGGER_OK); });
  REQUIRE(rig.runUntil([&] { return rec.ok >= 3; }));
  CHECK(rec.stale == 0);
  outrigger_status cancelled = OUTRIGGER_E_INTERNAL;
  rig.onLoop([&] { cancelled = rig.api->instance_timer_cancel(rig.ctx, id); });
  CHECK(cancelled == OUTRIGGER_OK);
  CHECK(rec.stale == 1);  // before cancel returned
  int fired = rec.ok;
  rig.runFor(20);
  CHECK(rec.ok == fired);
  CHECK(rec.stale == 1);
  CHECK(rec.on_loop);
  rig.onLoop([&] { cancelled = rig.api->instance_timer_cancel(rig.ctx, id); });
  CHECK(cancelled == OUTRIGGER_E_STALE);
  CHECK(rec.stale == 1);
}

TEST_CASE("a one-shot timer fires once and that call is its last") {
  Rig rig;
  Rec rec{"once"};
  uint64_t id = 0;
  rig.onLoop([&] { REQUIRE(rig.timer(1, 0, &rec, &id) == OUTRIGGER_OK); });
  REQUIRE(rig.runUntil([&] { return rec.ok > 0; }));
  rig.runFor(20);
  CHECK(rec.ok == 1);
  CHECK(rec.stale == 0);
  outrigger_status cancelled = OUTRIGGER_OK;
  rig.onLoop([&] { cancelled = rig.api->instance_timer_cancel(rig.ctx, id); });
  CHECK(cancelled == OUTRIGGER_E_STALE);
  rig.release();
  CHECK(rec.stale == 0);  // nothing left to end at teardown either
  CHECK(rig.destroyed());
}

TEST_CASE("a timer cancelled from its own callback makes its final call after that callback returns") {
  Rig rig;
  Rec rec{"self"};
  static Rig* current = nullptr;
  current = &rig;
  rec.on_ok = [](Rec* r) {
    CHECK(current->api->instance_timer_cancel(current->ctx, r->id) == OUTRIGGER_OK);
    CHECK(r->stale == 0);  // not nested inside this call
    return true;
  };
  rig.onLoop([&] { REQUIRE(rig.timer(1, 1, &rec, &rec.id) == OUTRIGGER_OK); });
  REQUIRE(rig.runUntil([&] { return rec.stale > 0; }));
  rig.runFor(10);
  CHECK(rec.ok == 1);
  CHECK(rec.stale == 1);
  CHECK(g_events == std::vector<std::string>{"self:ok", "self:stale"});
}

TEST_CASE("watch_fd reports readable and writable, and unwatch_fd ends it with one final STALE call") {
  Rig rig;
  SocketPair sp;
  Rec rec{"fd"};
  uint64_t id = 0;
  Rec twice{"twice"};
  uint64_t twice_id = 0;
  rig.onLoop([&] {
    REQUIRE(rig.watch(sp.fd[0], OUTRIGGER_FD_READABLE, &rec, &id) == OUTRIGGER_OK);
    CHECK(rig.watch(sp.fd[0], OUTRIGGER_FD_WRITABLE, &twice, &twice_id) == OUTRIGGER_E_INVALID);  // one per fd
    CHECK(rig.api->watch_fd(rig.ctx, sp.fd[1], 4, &onFd, &twice, &twice_id) == OUTRIGGER_E_INVALID);  // unknown bit
    CHECK(rig.api->watch_fd(rig.ctx, -1, OUTRIGGER_FD_READABLE, &onFd, &twice, &twice_id) == OUTRIGGER_E_INVALID);
  });
  rig.runFor(10);
  CHECK(rec.ok == 0);  // nothing to read yet
  CHECK(twice.ok + twice.stale == 0);
  REQUIRE(::write(sp.fd[1], "x", 1) == 1);
  REQUIRE(rig.runUntil([&] { return rec.ok > 0; }));
  CHECK(rec.ready == OUTRIGGER_FD_READABLE);
  rig.runFor(10);
  CHECK(rec.ok == 1);  // drained: not ready again

  rec.ok = 0;
  static Rig* current = nullptr;
  current = &rig;
  rec.on_ok = [](Rec* r) {  // stop asking once writable was seen: a socket stays writable
    CHECK(current->api->watch_fd_update(current->ctx, r->id, 0) == OUTRIGGER_OK);
    return true;
  };
  rec.id = id;
  outrigger_status updated = OUTRIGGER_E_INTERNAL;
  rig.onLoop([&] { updated = rig.api->watch_fd_update(rig.ctx, id, OUTRIGGER_FD_WRITABLE); });
  REQUIRE(updated == OUTRIGGER_OK);
  REQUIRE(rig.runUntil([&] { return rec.ok > 0; }));
  CHECK(rec.ready == OUTRIGGER_FD_WRITABLE);
  rig.runFor(10);
  CHECK(rec.ok == 1);

  outrigger_status unwatched = OUTRIGGER_E_INTERNAL;
  rig.onLoop([&] {
    REQUIRE(rig.api->watch_fd_update(rig.ctx, id, OUTRIGGER_FD_READABLE | OUTRIGGER_FD_WRITABLE) == OUTRIGGER_OK);
    unwatched = rig.api->unwatch_fd(rig.ctx, id);
  });
  CHECK(unwatched == OUTRIGGER_OK);
  CHECK(rec.stale == 1);
  REQUIRE(::write(sp.fd[1], "y", 1) == 1);
  rig.runFor(20);
  CHECK(rec.ok == 1);
  CHECK(rec.stale == 1);
  CHECK(rec.other == 0);
  rig.onLoop([&] { unwatched = rig.api->unwatch_fd(rig.ctx, id); });
  CHECK(unwatched == OUTRIGGER_E_STALE);
}

TEST_CASE("instance timer and fd calls from another thread are refused with E_WRONG_THREAD") {
  Rig rig;
  SocketPair sp;
  Rec timer_rec{"t"}, fd_rec{"fd"};
  uint64_t timer_id = 0, watch_id = 0;
  rig.onLoop([&] {
    REQUIRE(rig.timer(60000, 0, &timer_rec, &timer_id) == OUTRIGGER_OK);
    REQUIRE(rig.watch(sp.fd[0], OUTRIGGER_FD_READABLE, &fd_rec, &watch_id) == OUTRIGGER_OK);
  });
  Rec never{"never"};
  uint64_t id = 0;
  auto calls = [&] {
    return std::vector<outrigger_status>{
        rig.api->instance_timer(rig.ctx, 1, 0, &onCall, &never, &id),
        rig.api->instance_timer_cancel(rig.ctx, timer_id),
        rig.api->watch_fd(rig.ctx, sp.fd[1], OUTRIGGER_FD_READABLE, &onFd, &never, &id),
        rig.api->watch_fd_update(rig.ctx, watch_id, OUTRIGGER_FD_WRITABLE),
        rig.api->unwatch_fd(rig.ctx, watch_id),
    };
  };
  const std::vector<outrigger_status> wrong(5, OUTRIGGER_E_WRONG_THREAD);
  std::vector<outrigger_status> from_other;
  std::thread other([&] { from_other = calls(); });
  other.join();
  CHECK(from_other == wrong);
  CHECK(calls() == wrong);  // this thread while it does not run the loop
  CHECK(never.ok + never.stale == 0);
  CHECK(timer_rec.stale == 0);
  CHECK(fd_rec.stale == 0);
  rig.onLoop([&] { rig.release(); });
  CHECK(timer_rec.stale == 1);
  CHECK(fd_rec.stale == 1);
}

TEST_CASE("before its worker installs it, an instance's posts wait and its timers are unsupported") {
  Rig rig(&kPerWorker, /*install=*/false);
  Rec post{"early"}, t{"t"};
  uint64_t id = 0;
  REQUIRE(rig.api->instance_post(rig.ctx, &onCall, &post) == OUTRIGGER_OK);
  rig.onLoop([&] { CHECK(rig.api->instance_timer(rig.ctx, 1, 0, &onCall, &t, &id) == OUTRIGGER_E_UNSUPPORTED); });
  rig.runFor(10);
  CHECK(post.ok + post.stale == 0);
  rig.install();
  REQUIRE(rig.runUntil([&] { return post.ok > 0; }));
  CHECK(post.stale == 0);
}

TEST_CASE("an early post of an instance that is never installed runs with STALE before destroy") {
  Rig rig(&kPerWorker, /*install=*/false);
  Rec post{"early"};
  REQUIRE(rig.api->instance_post(rig.ctx, &onCall, &post) == OUTRIGGER_OK);
  rig.release();
  CHECK(g_events == std::vector<std::string>{"early:stale", "destroy"});
}

TEST_CASE("a shared instance has no loop of its own: instance calls are unsupported") {
  Rig rig(&kShared);
  Rec rec{"shared"};
  uint64_t id = 0;
  CHECK(rig.api->instance_post(rig.ctx, &onCall, &rec) == OUTRIGGER_E_UNSUPPORTED);
  rig.onLoop([&] { CHECK(rig.api->instance_timer(rig.ctx, 1, 0, &onCall, &rec, &id) == OUTRIGGER_E_UNSUPPORTED); });
  rig.runFor(10);
  CHECK(rec.ok + rec.stale == 0);
}

TEST_CASE("an instance released off its loop ends its timers, watches and posts on the loop before destroy") {
  Rig rig;
  SocketPair sp;
  Rec tick{"tick"}, later{"later"}, fd{"fd"}, post{"post"};
  uint64_t id = 0;
  rig.onLoop([&] {
    REQUIRE(rig.timer(1, 1, &tick, &id) == OUTRIGGER_OK);
    REQUIRE(rig.timer(60000, 0, &later, &id) == OUTRIGGER_OK);
    REQUIRE(rig.watch(sp.fd[0], OUTRIGGER_FD_READABLE, &fd, &id) == OUTRIGGER_OK);
  });
  REQUIRE(rig.runUntil([&] { return tick.ok > 0; }));
  post.expected = &rig.loop;
  REQUIRE(rig.api->instance_post(rig.ctx, &onCall, &post) == OUTRIGGER_OK);
  rig.release();  // from this thread, not the loop's: the teardown waits for the loop
  CHECK_FALSE(rig.destroyed());
  CHECK(tick.stale + later.stale + fd.stale == 0);
  REQUIRE(rig.runUntil([&] { return rig.destroyed(); }));
  rig.runFor(20);
  CHECK(tick.stale == 1);
  CHECK(later.stale == 1);
  CHECK(later.ok == 0);
  CHECK(fd.stale == 1);
  CHECK(post.ok == 1);  // queued before the teardown: it ran first, on the loop
  CHECK(tick.on_loop);
  CHECK(later.on_loop);
  CHECK(fd.on_loop);
  int destroy = indexOf("destroy");
  CHECK(destroy == static_cast<int>(g_events.size()) - 1);  // nothing after destroy
  for (const char* e : {"tick:stale", "later:stale", "fd:stale", "post:ok"}) {
    INFO(e);
    CHECK(indexOf(e) >= 0);
    CHECK(indexOf(e) < destroy);
  }
}

TEST_CASE("an instance released on its loop ends its timers and watches at once, then is destroyed") {
  Rig rig;
  SocketPair sp;
  Rec tick{"tick"}, fd{"fd"};
  uint64_t id = 0;
  rig.onLoop([&] {
    REQUIRE(rig.timer(60000, 60000, &tick, &id) == OUTRIGGER_OK);
    REQUIRE(rig.watch(sp.fd[0], OUTRIGGER_FD_WRITABLE, &fd, &id) == OUTRIGGER_OK);
  });
  rig.onLoop([&] { rig.release(); });
  CHECK(tick.stale == 1);
  CHECK(fd.stale == 1);
  REQUIRE(g_events.size() == 3);
  CHECK(g_events.back() == "destroy");
}

TEST_CASE("an instance released inside its own callback is destroyed after that callback returns") {
  Rig rig;
  Rec tick{"tick"}, other{"other"};
  static Rig* current = nullptr;
  current = &rig;
  tick.on_ok = [](Rec*) {
    current->release();
    CHECK_FALSE(current->destroyed());
    g_events.push_back("callback returns");
    return true;
  };
  uint64_t id = 0;
  rig.onLoop([&] {
    REQUIRE(rig.timer(1, 1, &tick, &id) == OUTRIGGER_OK);
    REQUIRE(rig.timer(60000, 0, &other, &id) == OUTRIGGER_OK);
  });
  REQUIRE(rig.runUntil([&] { return rig.destroyed(); }));
  CHECK(tick.ok == 1);
  CHECK(tick.stale == 1);
  CHECK(other.stale == 1);
  CHECK(g_events.front() == "tick:ok");
  CHECK(g_events[1] == "callback returns");
  CHECK(g_events.back() == "destroy");
}

// A one-shot timer, or a repeating one cancelled from its own callback, left the instance's live
// count before its calls ended: the last reference dropped on another thread meanwhile destroyed
// the instance under the running callback (and before the cancelled timer's final call).
TEST_CASE("an instance released off its loop while its timer's callback runs is destroyed after that timer's last call") {
  for (bool repeating : {false, true}) {
    INFO((repeating ? "a repeating timer cancelled in its callback" : "a one-shot timer"));
    Rig rig;
    static std::atomic<bool> entered, released, destroyed_inside;
    static Rig* current = nullptr;
    static uint64_t timer_id = 0;
    static bool cancel = false;
    entered = released = destroyed_inside = false;
    current = &rig;
    cancel = repeating;
    Rec timer{"timer"};
    timer.on_ok = [](Rec*) {
      if (cancel) current->api->instance_timer_cancel(current->ctx, timer_id);
      entered = true;
      for (int i = 0; i < 2000 && !released; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      destroyed_inside = current->destroyed();
      return true;
    };
    rig.onLoop([&] { REQUIRE(rig.timer(1, repeating ? 1 : 0, &timer, &timer_id) == OUTRIGGER_OK); });
    rig.onLoop([&] { rig.engine.setChain(nullptr); });  // the rig's own reference is the last
    std::thread other([&] {
      while (!entered) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      rig.instance.reset();  // off the loop, while the callback runs on it
      released = true;
    });
    REQUIRE(rig.runUntil([&] { return rig.destroyed(); }, 5000));
    other.join();
    CHECK(timer.ok == 1);
    CHECK_FALSE(destroyed_inside);
    CHECK(timer.stale == (repeating ? 1 : 0));
    CHECK(g_events.back() == "destroy");  // the cancelled timer's final call came first
  }
}

TEST_CASE("a stopping engine ends its instances' timers and binds nothing afterwards") {
  Rig rig;
  Rec tick{"tick"}, post{"post"};
  uint64_t id = 0;
  rig.onLoop([&] { REQUIRE(rig.timer(1, 1, &tick, &id) == OUTRIGGER_OK); });
  rig.onLoop([&] { rig.engine.retireInstanceLoops(); });
  CHECK(tick.stale == 1);
  outrigger_status st = OUTRIGGER_OK;
  rig.onLoop([&] { st = rig.api->instance_timer(rig.ctx, 1, 0, &onCall, &tick, &id); });
  CHECK(st == OUTRIGGER_E_STALE);
  CHECK(rig.api->instance_post(rig.ctx, &onCall, &post) == OUTRIGGER_OK);
  CHECK(post.stale == 1);  // answered on this thread: the instance's loop use has ended
  rig.release();
  CHECK(rig.destroyed());  // nothing left on the loop: destroyed where it was released
}

TEST_CASE("an instance holds at most 256 timers and 64 watches, and beyond them gets E_NOMEM") {
  Rig rig;
  std::vector<Rec> timers(OUTRIGGER_INSTANCE_MAX_TIMERS + 1, Rec{"t"});
  std::vector<std::unique_ptr<SocketPair>> pairs;
  std::vector<Rec> watches(OUTRIGGER_INSTANCE_MAX_WATCHES + 1, Rec{"w"});
  for (size_t i = 0; i < watches.size(); ++i) pairs.push_back(std::make_unique<SocketPair>());
  uint64_t id = 0;
  rig.onLoop([&] {
    for (int i = 0; i < OUTRIGGER_INSTANCE_MAX_TIMERS; ++i) {
      REQUIRE(rig.timer(60000, 0, &timers[i], &id) == OUTRIGGER_OK);
    }
    CHECK(rig.timer(60000, 0, &timers.back(), &id) == OUTRIGGER_E_NOMEM);
    for (int i = 0; i < OUTRIGGER_INSTANCE_MAX_WATCHES; ++i) {
      REQUIRE(rig.watch(pairs[i]->fd[0], OUTRIGGER_FD_READABLE, &watches[i], &id) == OUTRIGGER_OK);
    }
    CHECK(rig.watch(pairs.back()->fd[0], OUTRIGGER_FD_READABLE, &watches.back(), &id) == OUTRIGGER_E_NOMEM);
  });
  CHECK(rig.instance->instanceLoop()->timersForTest() == OUTRIGGER_INSTANCE_MAX_TIMERS);
  CHECK(rig.instance->instanceLoop()->watchesForTest() == OUTRIGGER_INSTANCE_MAX_WATCHES);
  rig.onLoop([&] { rig.release(); });
  int stale = 0;
  for (const Rec& r : timers) stale += r.stale;
  for (const Rec& r : watches) stale += r.stale;
  CHECK(stale == OUTRIGGER_INSTANCE_MAX_TIMERS + OUTRIGGER_INSTANCE_MAX_WATCHES);
  CHECK(timers.back().stale == 0);
  CHECK(watches.back().stale == 0);
}

TEST_CASE("at most 64 posts wait for an instance's loop to be bound, and beyond them E_NOMEM") {
  Rig rig(&kPerWorker, /*install=*/false);
  std::vector<Rec> posts(OUTRIGGER_INSTANCE_MAX_EARLY_POSTS + 1, Rec{"p"});
  for (int i = 0; i < OUTRIGGER_INSTANCE_MAX_EARLY_POSTS; ++i) {
    REQUIRE(rig.api->instance_post(rig.ctx, &onCall, &posts[i]) == OUTRIGGER_OK);
  }
  CHECK(rig.api->instance_post(rig.ctx, &onCall, &posts.back()) == OUTRIGGER_E_NOMEM);
  rig.install();
  REQUIRE(rig.runUntil([&] { return posts[OUTRIGGER_INSTANCE_MAX_EARLY_POSTS - 1].ok > 0; }));
  CHECK(posts.back().ok + posts.back().stale == 0);
}

TEST_CASE("the C++ wrapper's repeating instance timer frees its function after the final call") {
  Rig rig;
  plugin::Host host(rig.api);
  REQUIRE(host.hasInstanceLoop());
  auto token = std::make_shared<int>(0);
  int ok = 0, stale = 0;
  uint64_t id = 0;
  rig.onLoop([&] {
    REQUIRE(host.instanceTimer(1, 1, [token, &ok, &stale](outrigger_status st) { ++(st == OUTRIGGER_OK ? ok : stale); },
                               &id) == OUTRIGGER_OK);
  });
  REQUIRE(rig.runUntil([&] { return ok >= 2; }));
  CHECK(token.use_count() == 2);
  rig.onLoop([&] { CHECK(host.instanceTimerCancel(id) == OUTRIGGER_OK); });
  CHECK(stale == 1);
  CHECK(token.use_count() == 1);
}

// A new chain, a GoAway, an end of every request and a worker's stop are posted to its loop from
// the main thread. A full queue refused them: the worker stayed on the old chain, or the daemon's
// exit waited for a stop that was never queued.
TEST_CASE("event loop: postSurely waits for room in a full queue instead of dropping, and refuses only a stopping loop") {
  event::EventLoop loop{60, /*queue_capacity=*/2};
  loop.startThread();
  std::atomic<bool> release{false}, stalled{false};
  REQUIRE(loop.post([&] {
    stalled = true;
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }));
  while (!stalled) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::atomic<int> ran{0};
  REQUIRE(loop.post([&] { ++ran; }));
  REQUIRE(loop.post([&] { ++ran; }));
  CHECK_FALSE(loop.post([&] { ++ran; }));  // full: post drops it
  std::atomic<bool> surely_done{false};
  std::thread poster([&] {
    CHECK(loop.postSurely([&] { ran += 10; }));
    surely_done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK_FALSE(surely_done);  // still waiting for room
  release = true;
  poster.join();
  for (int i = 0; i < 1000 && ran < 12; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK(ran == 12);
  loop.stop();
  loop.join();
  CHECK_FALSE(loop.postSurely([&] { ran += 100; }));
  CHECK(ran == 12);
}
