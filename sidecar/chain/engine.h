// The chain engine of one worker: owns the worker's in-flight requests and runs each through
// its route's stages (guardrails -> cache -> provider -> guardrails -> cache store), with
// deadlines, cancellation and exactly one end per request.
//
// Thread: everything here runs on the worker's loop thread, except what is marked [any].
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <outrigger/plugin.h>

#include "api/response_sink.h"
#include "chain/call_input.h"
#include "chain/chain.h"
#include "chain/limit_queue.h"
#include "cost/usage_meter.h"
#include "telemetry/request_meter.h"
#include "telemetry/tenant_labels.h"
#include "event/event_loop.h"
#include "resilience/target_health.h"
#include "telemetry/exporter_thread.h"

namespace outrigger::wire { struct Request; }
namespace outrigger::http_client { class HttpClient; }

namespace outrigger::chain {

class RequestContext;

struct EngineSettings {
  uint32_t default_timeout_ms = 60000;
  uint32_t max_timeout_ms = 600000;
  uint32_t slow_hook_warn_us = 1000;
  // [metrics] tenant_label: the process's tenant labels for request, token and cost series;
  // nullptr: the series have no tenant label.
  telemetry::TenantLabels* tenant_labels = nullptr;
  // The process's cap on token and cost label sets, shared by every worker's meter; nullptr: the
  // engine's meter keeps one of its own.
  cost::UsageSeriesCap* usage_series = nullptr;
};

struct EngineCounters {
  std::atomic<uint64_t> started{0};
  std::atomic<uint64_t> finished{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> slow_hooks{0};
  std::atomic<uint64_t> plugin_errors{0};
  std::atomic<uint64_t> records_dropped{0};
  // Resilience decisions (sidecar/resilience): attempts started, same-target retries,
  // fallbacks to another target, requests that gave up after a failure, breaker skips.
  std::atomic<uint64_t> attempts{0};
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> fallbacks{0};
  std::atomic<uint64_t> give_ups{0};
  std::atomic<uint64_t> breaker_skips{0};
  // Limits (route `limits`): requests that waited in a route's queue, requests refused because
  // the queue was full, and waiters whose queue time ran out.
  std::atomic<uint64_t> queued{0};
  std::atomic<uint64_t> queue_full{0};
  std::atomic<uint64_t> queue_timeouts{0};
  // Hedging (route `hedge`): second attempts started, and those that answered first.
  std::atomic<uint64_t> hedges{0};
  std::atomic<uint64_t> hedge_wins{0};
  // Guardrails that change things: rewrites applied, re-asks started, streams ended because
  // held bytes went over the route's max_held_bytes.
  std::atomic<uint64_t> rewrites{0};
  std::atomic<uint64_t> reasks{0};
  std::atomic<uint64_t> hold_overflows{0};
  // Streams ended because the provider's answer went past the route's max_answer_bytes.
  std::atomic<uint64_t> answer_overflows{0};
  // Requests a limiter (budget, quota, fleet limit) refused.
  std::atomic<uint64_t> limiter_refusals{0};
};

// An owned copy of one frame, 8-byte aligned, that a request's views point into.
struct FrameBuffer {
  std::unique_ptr<uint64_t[]> words;
  size_t size = 0;
  const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(words.get()); }
  static FrameBuffer copyOf(const uint8_t* data, size_t size) {
    FrameBuffer f;
    f.words = std::make_unique<uint64_t[]>((size + 7) / 8);
    std::memcpy(f.words.get(), data, size);
    f.size = size;
    return f;
  }
};

// What an embeddings request carries besides its wire Request (which gives the model, metadata,
// deadline and cache control; its messages are empty).
struct EmbedInput {
  std::vector<std::string> inputs;
  bool token_ids = false;   // each input is a compact JSON array of token ids (OUTRIGGER_EMBED_TOKEN_IDS)
  uint32_t dimensions = 0;  // 0: the model's own
  std::string extra_json;   // provider-specific fields, a JSON object or empty
};

class Engine : private resilience::CapacityWaiters {
 public:
  // `health`: the process's registry, shared with the other workers' engines and outliving this
  // one; nullptr gives the engine a private one (an engine driven by hand, a single worker).
  Engine(event::EventLoop& loop, EngineSettings settings, telemetry::ExporterThread* exporter,
         resilience::HealthRegistry* health = nullptr);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // The chain new requests start on. In-flight requests keep theirs. Binds the chain's
  // per-worker instances to this engine's loop (ABI 1.2 instance loop access): the first
  // chain that holds an instance gives it its loop.
  void setChain(std::shared_ptr<const WorkerChain> chain);
  // [loop, or the loop not running] Ends the loop use of every instance bound here (timers and
  // watches get their final call) and runs teardowns left queued. Called before the loop closes
  // its handles; no instance is bound afterwards.
  void retireInstanceLoops();
  const std::shared_ptr<const WorkerChain>& chain() const { return chain_; }

  // Starts a request whose wire form lives in `frame` (request points into it). The sink gets
  // exactly one onEnd for `stream_id`, possibly before start returns. Returns the handle.
  // With `embed`, the request is an embeddings call: it gets the same handle, deadline,
  // cancellation and single end, runs on the route's first target's provider `embed` hook (no
  // guardrails, cache or retries), and its end carries the vectors.
  // `tenant`, when given, replaces the request's own tenant (the front decided it from the
  // caller's credentials); `route`, when given, is the route by name, and the request's model
  // is then only the model (the HTTP front's x-outrigger-route).
  outrigger_request start(FrameBuffer frame, const wire::Request* request, ResponseSink* sink,
                          uint64_t stream_id, std::unique_ptr<EmbedInput> embed = nullptr,
                          const std::string* tenant = nullptr, const std::string* route = nullptr);
  // Starts a request given in process (no wire frame, no FlatBuffers): the same route, stages,
  // deadline, cancellation and single end as start(). For the CLI's dataset runs and tests.
  outrigger_request start(std::unique_ptr<CallInput> input, ResponseSink* sink, uint64_t stream_id);
  // Starts a plugin's model call: `input` (and `embed` for embeddings) as an in-process request
  // whose end goes to `sink`. The caller bounds its timeout and names its tenant in `input`.
  // A plugin's model call, on its caller's snapshot: a reload meanwhile must not send it to the
  // new config's routes (or, for a route the new config lacks, to its default route).
  outrigger_request startChild(std::unique_ptr<CallInput> input, std::unique_ptr<EmbedInput> embed, ResponseSink* sink,
                               std::shared_ptr<const WorkerChain> caller_chain);
  // Ends the request now with `code` (if it has not ended). Reaches whichever plugin is pending.
  void cancel(outrigger_request handle, Code code, std::string_view message, std::string_view origin = "client");
  // Like cancel, but the sink is gone: nothing is sent.
  void abandon(outrigger_request handle);
  // The sink drained below its low watermark: paused producers may go on.
  void resume(outrigger_request handle);

  // The worker's outbound HTTP client offered to plugins; nullptr when there is none (tests
  // that drive an engine by hand). Owned by the worker, which outlives every request.
  void setHttpClient(http_client::HttpClient* client) { http_client_ = client; }
  http_client::HttpClient* httpClient() const { return http_client_; }

  RequestContext* find(outrigger_request handle) const;
  size_t inFlight() const { return in_flight_; }
  event::EventLoop& loop() { return loop_; }
  const EngineSettings& settings() const { return settings_; }
  EngineCounters& counters() { return counters_; }
  // Tokens and USD by route, provider and model on this worker, for /metrics.
  cost::UsageMeter& usageMeter() { return usage_meter_; }
  // Latency, cache and guardrail figures of this worker's finished requests, for /metrics.
  telemetry::RequestMeter& requestMeter() { return request_meter_; }
  telemetry::ExporterThread* exporter() { return exporter_; }
  std::string newTraceId();
  uint64_t nextSeed() { return rng_(); }
  // The targets' breakers, latency, budgets, rate buckets and in-flight counts, shared by every
  // worker; they outlive chain snapshots.
  resilience::HealthRegistry& health() { return *health_; }
  // The queue of requests waiting for a limited target on route `route` on this worker, created
  // on first use; like the health registry it outlives chain snapshots.
  LimitQueue& limitQueue(const std::string& route);
  // Capacity may have freed (an attempt ended, tokens were refunded): waiters try again on the
  // loop's next turn, on this worker and, through their loops' post(), on the others that have
  // any (nothing is posted when no other worker has a waiter).
  void wakeLimitQueues();

  // The engine that owns `handle` ([any]); nullptr for an unknown worker index. Only its own
  // loop thread may use the engine it returns: another thread's could be destroyed meanwhile.
  static Engine* forHandle(outrigger_request handle);
  // [any] Queues `fn(status)` on the loop of the worker that owns `handle`: OK when the request
  // is live when it runs, E_STALE when it has ended. The worker cannot be destroyed while this
  // queues (a plugin's thread may post while the daemon shuts down). E_INVALID for an unknown
  // worker, E_NOMEM when its loop refuses (stopping, or its queue full).
  static outrigger_status postToOwner(outrigger_request handle, outrigger_callback fn, void* user_data);

 private:
  friend class RequestContext;
  void release(RequestContext* ctx);  // frees the slot; the memory goes after timers close
  outrigger_request allocateHandle();
  outrigger_request launch(RequestContext* ctx);  // registers and begins it
  // resilience::CapacityWaiters, called by other workers [any].
  bool hasWaiters() const override { return waiting_.load() > 0; }
  void wake() override;
  void wakeOwnQueues();
  void countWaiting(LimitQueue* queue, int64_t delta);
  void bindInstanceLoops(const WorkerChain& chain);

  // What a wake-up posted to this loop holds: it may run after the engine is gone (a loop driven
  // by hand in tests runs again after its engine), and then finds `engine` null.
  struct WakeToken {
    std::atomic<bool> posted{false};  // one wake-up in the loop's queue at a time
    Engine* engine = nullptr;         // loop thread only
  };

  struct Slot {
    uint32_t generation = 1;
    RequestContext* ctx = nullptr;
  };

  event::EventLoop& loop_;
  EngineSettings settings_;
  telemetry::ExporterThread* exporter_;
  std::shared_ptr<const WorkerChain> chain_;
  http_client::HttpClient* http_client_ = nullptr;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_slots_;
  size_t in_flight_ = 0;
  EngineCounters counters_;
  cost::UsageMeter usage_meter_;
  telemetry::RequestMeter request_meter_;
  std::mt19937_64 rng_;
  std::unique_ptr<resilience::HealthRegistry> own_health_;  // when none was given
  resilience::HealthRegistry* health_;
  std::map<std::string, LimitQueue*, std::less<>> limit_queues_;  // each frees itself on close()
  std::atomic<int64_t> waiting_{0};  // requests in limit_queues_; written on the loop thread only
  std::shared_ptr<WakeToken> wake_token_;
  // Instances bound to this loop, kept until retired so a stopping loop can still end them.
  std::vector<std::shared_ptr<plugin::InstanceLoop>> bound_loops_;
  bool loops_retired_ = false;
};

}  // namespace outrigger::chain
