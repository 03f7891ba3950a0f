// ABI 1.2 instance_http_request against the scripted upstream on loopback: a per-worker instance
// makes transfers of its own (no request, no deadline) through its worker's HTTP client; they
// deliver like request transfers, cancel at once, complete cancelled at the instance's teardown
// before its destroy, and are bounded per instance.
#include <catch2/catch.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <outrigger/plugin.hpp>

#include "chain/chain.h"
#include "chain/engine.h"
#include "chain/host_api.h"
#include "event/event_loop.h"
#include "http_client/http_client.h"
#include "plugin/instance.h"
#include "support/in_test_plugins.h"
#include "upstream_process.h"

using namespace outrigger;
using outrigger::testing::passingGuardrailType;
using outrigger::testing::typeFor;
using outrigger::testing::UpstreamProcess;

namespace {

std::vector<std::string> g_events;  // sink completions and destroy, in order
const outrigger_host_api* g_api = nullptr;

struct Recorder {
  int status = 0;
  std::string body;
  int completions = 0;
  outrigger_http_error error = -1;

  static const outrigger_http_sink* sink() {
    static const outrigger_http_sink s = {
        OUTRIGGER_HEADER_INIT(outrigger_http_sink),
        [](void* u, const outrigger_http_response_head* h) noexcept -> outrigger_status {
          static_cast<Recorder*>(u)->status = h->status;
          return OUTRIGGER_OK;
        },
        [](void* u, outrigger_str b) noexcept -> outrigger_status {
          static_cast<Recorder*>(u)->body.append(b.data, b.size);
          return OUTRIGGER_OK;
        },
        [](void* u, const outrigger_http_result* res) noexcept {
          auto* r = static_cast<Recorder*>(u);
          ++r->completions;
          r->error = res->error;
          g_events.push_back("complete:" + std::to_string(res->error));
        },
    };
    return &s;
  }
};

outrigger_status createProbe(const outrigger_host_api* host, outrigger_str, outrigger_str, void** inst,
                             outrigger_error*) noexcept {
  g_api = host;
  *inst = const_cast<outrigger_host_api*>(host);
  return OUTRIGGER_OK;
}

void destroyProbe(void*) noexcept { g_events.push_back("destroy"); }

const outrigger_plugin_type kProbe = passingGuardrailType(&createProbe, &destroyProbe);
const std::string kChat = R"({"model":"m","messages":[{"role":"user","content":"hi"}]})";

// A worker's loop, HTTP client and engine, and one per-worker instance its chain binds there.
struct Rig {
  UpstreamProcess upstream;
  event::EventLoop loop{60};
  http_client::HttpClient client{loop.loop()};
  chain::Engine engine{loop, {60000, 600000, 1000000}, nullptr};
  plugin::PluginType type = typeFor(&kProbe);
  std::shared_ptr<plugin::PluginInstance> instance;
  const outrigger_host_api* api = nullptr;
  std::string url;

  Rig() {
    REQUIRE(upstream.ready());
    url = upstream.baseUrl() + "/v1/chat/completions";
    g_events.clear();
    engine.setHttpClient(&client);
    config::InstanceSettings is{"probe", "guardrail", "probe", "{}", config::OnError::kDeny, "t:1", {}};
    instance = plugin::PluginInstance::create(type, is, chain::hostApiTemplate()).value();
    api = g_api;
    auto chain = std::make_shared<chain::WorkerChain>();
    chain::Route r;
    r.name = "default";
    r.guardrails.push_back({instance, "guardrail/probe"});
    chain->routes.emplace("default", std::move(r));
    chain->default_route = "default";
    engine.setChain(chain);
  }
  ~Rig() {
    release();
    runFor(20);
    client.shutdown();
    runFor(20);
  }
  void release() {
    engine.setChain(nullptr);
    instance.reset();
  }

  outrigger_status start(Recorder* r, uint64_t* id) {
    outrigger_http_header headers[] = {{{"content-type", 12}, {"application/json", 16}}};
    outrigger_http_request req{};
    req.hdr = OUTRIGGER_HEADER_INIT(outrigger_http_request);
    req.method = {"POST", 4};
    req.url = {url.data(), url.size()};
    req.headers = headers;
    req.header_count = 1;
    req.body = {kChat.data(), kChat.size()};
    return api->instance_http_request(api->host_ctx, &req, Recorder::sink(), r, id);
  }
  template <class F>
  void onLoop(F&& f) {
    loop.runUntilForTest([&] {
      f();
      return true;
    }, 1000);
  }
  bool runUntil(const std::function<bool()>& done, uint64_t ms = 5000) { return loop.runUntilForTest(done, ms); }
  void runFor(uint64_t ms) { loop.runUntilForTest([] { return false; }, ms); }
  size_t transfers() const { return instance->instanceLoop()->transfersForTest(); }
};

int indexOf(const std::string& event) {
  for (size_t i = 0; i < g_events.size(); ++i) {
    if (g_events[i] == event) return static_cast<int>(i);
  }
  return -1;
}

const std::string kCancelled = "complete:" + std::to_string(OUTRIGGER_HTTP_E_CANCELLED);

}  // namespace

TEST_CASE("instance_http_request delivers the upstream's status and body on the instance's loop") {
  Rig rig;
  Recorder rec;
  outrigger_status st = OUTRIGGER_E_INTERNAL;
  uint64_t id = 0;
  rig.onLoop([&] { st = rig.start(&rec, &id); });
  REQUIRE(st == OUTRIGGER_OK);
  CHECK(id != 0);
  REQUIRE(rig.runUntil([&] { return rec.completions > 0; }));
  CHECK(rec.error == OUTRIGGER_HTTP_OK);
  CHECK(rec.status == 200);
  CHECK(rec.body.find("\"choices\"") != std::string::npos);
  CHECK(rec.completions == 1);
  CHECK(rig.transfers() == 0);
  CHECK(rig.upstream.log().find("/v1/chat/completions") != std::string::npos);
}

TEST_CASE("instance_http_request off the instance's loop returns WRONG_THREAD") {
  Rig rig;
  Recorder rec;
  uint64_t id = 0;
  CHECK(rig.start(&rec, &id) == OUTRIGGER_E_WRONG_THREAD);
  CHECK(rig.api->instance_http_cancel(rig.api->host_ctx, 1) == OUTRIGGER_E_WRONG_THREAD);
  CHECK(rig.transfers() == 0);
}

TEST_CASE("instance_http_cancel ends a transfer at once and no sink call follows") {
  Rig rig;
  REQUIRE(rig.upstream.script(R"([{"fault":"hang","ms":5000}])"));
  Recorder rec;
  uint64_t id = 0;
  outrigger_status cancel = OUTRIGGER_E_INTERNAL, again = OUTRIGGER_E_INTERNAL;
  rig.onLoop([&] { REQUIRE(rig.start(&rec, &id) == OUTRIGGER_OK); });
  rig.runFor(50);  // the request is on the wire, the upstream holds it
  rig.onLoop([&] {
    cancel = rig.api->instance_http_cancel(rig.api->host_ctx, id);
    again = rig.api->instance_http_cancel(rig.api->host_ctx, id);
  });
  CHECK(cancel == OUTRIGGER_OK);
  CHECK(again == OUTRIGGER_E_STALE);
  rig.runFor(50);
  CHECK(rec.completions == 0);
  CHECK(rig.transfers() == 0);
}

TEST_CASE("a transfer in flight at the instance's teardown completes cancelled before destroy") {
  Rig rig;
  REQUIRE(rig.upstream.script(R"([{"fault":"hang","ms":5000}])"));
  Recorder rec;
  uint64_t id = 0;
  rig.onLoop([&] { REQUIRE(rig.start(&rec, &id) == OUTRIGGER_OK); });
  rig.runFor(20);
  rig.release();  // off the loop with a transfer live: the teardown is queued to the loop
  CHECK(indexOf("destroy") == -1);
  REQUIRE(rig.runUntil([] { return indexOf("destroy") >= 0; }, 2000));
  CHECK(rec.completions == 1);
  CHECK(rec.error == OUTRIGGER_HTTP_E_CANCELLED);
  CHECK(indexOf(kCancelled) >= 0);
  CHECK(indexOf(kCancelled) < indexOf("destroy"));
}

TEST_CASE("an instance has at most OUTRIGGER_INSTANCE_MAX_HTTP_TRANSFERS transfers in flight") {
  Rig rig;
  REQUIRE(rig.upstream.script(R"([{"fault":"hang","ms":5000,"repeat":80}])"));
  std::vector<Recorder> recs(OUTRIGGER_INSTANCE_MAX_HTTP_TRANSFERS + 1);
  std::vector<uint64_t> ids(recs.size());
  outrigger_status over = OUTRIGGER_E_INTERNAL, cancel = OUTRIGGER_E_INTERNAL, after = OUTRIGGER_E_INTERNAL;
  int accepted = 0;
  rig.onLoop([&] {
    for (size_t i = 0; i < OUTRIGGER_INSTANCE_MAX_HTTP_TRANSFERS; ++i) accepted += rig.start(&recs[i], &ids[i]) == OUTRIGGER_OK;
    over = rig.start(&recs.back(), &ids.back());
    cancel = rig.api->instance_http_cancel(rig.api->host_ctx, ids[0]);
    after = rig.start(&recs.back(), &ids.back());
  });
  CHECK(accepted == OUTRIGGER_INSTANCE_MAX_HTTP_TRANSFERS);
  CHECK(over == OUTRIGGER_E_NOMEM);
  CHECK(cancel == OUTRIGGER_OK);
  CHECK(after == OUTRIGGER_OK);
  CHECK(rig.transfers() == OUTRIGGER_INSTANCE_MAX_HTTP_TRANSFERS);
  rig.release();
  REQUIRE(rig.runUntil([] { return indexOf("destroy") >= 0; }, 2000));
  int cancelled = 0;
  for (const auto& e : g_events) cancelled += e == kCancelled;
  CHECK(cancelled == OUTRIGGER_INSTANCE_MAX_HTTP_TRANSFERS);
  CHECK(recs[0].completions == 0);
}

// The ABI lets a plugin cancel its transfer at any time, from inside that transfer's own body
// callback too: the host freed the transfer there and then used it on the way out (valgrind:
// an invalid read in InstanceLoop::Transfer::onBody).
TEST_CASE("instance_http_cancel from inside the transfer's own body callback ends it, and nothing follows") {
  Rig rig;
  struct CancelInBody {
    const outrigger_host_api* api = nullptr;
    uint64_t id = 0;
    int bodies = 0, completions = 0;
    outrigger_status cancelled = OUTRIGGER_E_INTERNAL;
  } c;
  c.api = rig.api;
  static const outrigger_http_sink sink = {
      OUTRIGGER_HEADER_INIT(outrigger_http_sink),
      nullptr,
      [](void* u, outrigger_str) noexcept -> outrigger_status {
        auto* self = static_cast<CancelInBody*>(u);
        if (self->bodies++ == 0) self->cancelled = self->api->instance_http_cancel(self->api->host_ctx, self->id);
        return OUTRIGGER_OK;
      },
      [](void* u, const outrigger_http_result*) noexcept { ++static_cast<CancelInBody*>(u)->completions; },
  };
  REQUIRE(rig.upstream.script(R"([{"fault":"ok","stream":true,"pieces":5,"gap_ms":20}])"));
  rig.onLoop([&] {
    outrigger_http_header headers[] = {{{"content-type", 12}, {"application/json", 16}}};
    outrigger_http_request req{};
    req.hdr = OUTRIGGER_HEADER_INIT(outrigger_http_request);
    req.method = {"POST", 4};
    req.url = {rig.url.data(), rig.url.size()};
    req.headers = headers;
    req.header_count = 1;
    std::string body = R"({"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]})";
    req.body = {body.data(), body.size()};
    REQUIRE(rig.api->instance_http_request(rig.api->host_ctx, &req, &sink, &c, &c.id) == OUTRIGGER_OK);
  });
  REQUIRE(rig.runUntil([&] { return c.bodies > 0; }));
  rig.runFor(200);
  CHECK(c.cancelled == OUTRIGGER_OK);
  CHECK(c.bodies == 1);
  CHECK(c.completions == 0);
  CHECK(rig.transfers() == 0);
}
