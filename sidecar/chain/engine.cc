#include "chain/engine.h"

#include <array>
#include <cstring>
#include <mutex>
#include <shared_mutex>

#include "chain/request_context.h"
#include "outrigger_generated.h"

namespace outrigger::chain {
namespace {

// Handles carry the worker index in the top 8 bits of the slot.
constexpr uint32_t kSlotBits = 24;
constexpr uint32_t kSlotMask = (1u << kSlotBits) - 1;
std::array<std::atomic<Engine*>, 256> g_engines{};
// Held shared while another thread queues work on an engine's loop (postToOwner), exclusively
// while an engine leaves g_engines, so it cannot be freed under that thread.
std::shared_mutex g_engines_leaving;

}  // namespace

Engine::Engine(event::EventLoop& loop, EngineSettings settings, telemetry::ExporterThread* exporter,
               resilience::HealthRegistry* health)
    : loop_(loop),
      settings_(settings),
      usage_meter_(settings.usage_series),
      exporter_(exporter),
      rng_(std::random_device{}()),
      own_health_(health ? nullptr : std::make_unique<resilience::HealthRegistry>()),
      health_(health ? health : own_health_.get()),
      wake_token_(std::make_shared<WakeToken>()) {
  wake_token_->engine = this;
  health_->addWaiters(this);
  g_engines[loop_.index() & 0xff].store(this, std::memory_order_release);
}

Engine::~Engine() {
  health_->removeWaiters(this);  // from now on no other worker posts here
  wake_token_->engine = nullptr;
  // Requests still in flight end now, without a sink; their handles close on the loop.
  for (Slot& s : slots_) {
    if (RequestContext* ctx = s.ctx) {
      ctx->detachSink();
      ctx->cancelWith(Code::kCancelled, "worker shutting down", "server");
    }
  }
  for (auto& [route, queue] : limit_queues_) queue->close();
  retireInstanceLoops();
  health_->addWaiting(-waiting_.exchange(0));  // the process count must not keep this worker's
  Engine* self = this;
  std::unique_lock<std::shared_mutex> leaving(g_engines_leaving);
  g_engines[loop_.index() & 0xff].compare_exchange_strong(self, nullptr);
}

void Engine::setChain(std::shared_ptr<const WorkerChain> chain) {
  if (chain && !loops_retired_) bindInstanceLoops(*chain);
  // Every target has its breaker from the start, so a trip seen elsewhere in a fleet
  // (host breaker_open) can open it before this process sends the target anything; and its
  // merged policy and rates, set here once rather than on every request.
  if (chain) {
    for (const auto& [name, route] : chain->routes) {
      for (const Target& t : route.targets) health_->configure(t.key, t.shared, t.rpm, t.tpm);
    }
  }
  chain_ = std::move(chain);
}

void Engine::bindInstanceLoops(const WorkerChain& chain) {
  std::erase_if(bound_loops_, [](const auto& l) { return l->retired(); });
  // Shared instances refuse to bind; a bound instance is not bound again. Exporters are not in
  // these stages: the exporter thread binds them to its own loop.
  auto bind = [this](const Stage& stage) {
    if (!stage.instance) return;
    const std::shared_ptr<plugin::InstanceLoop>& l = stage.instance->instanceLoop();
    if (l->bind(&loop_, http_client_, health_)) bound_loops_.push_back(l);
  };
  for (const auto& [name, route] : chain.routes) {
    for (const Stage& s : route.guardrails) bind(s);
    for (const Stage& s : route.limiters) bind(s);
    for (const Stage& s : route.cache) bind(s);
    for (const Target& t : route.targets) bind(t.stage);
    bind(route.provider);
  }
}

void Engine::retireInstanceLoops() {
  loops_retired_ = true;
  std::vector<std::shared_ptr<plugin::InstanceLoop>> bound;
  bound.swap(bound_loops_);
  for (const auto& l : bound) {
    l->retire();
    l->runDeferredTeardown();
  }
}

Engine* Engine::forHandle(outrigger_request handle) {
  return g_engines[handle.slot >> kSlotBits].load(std::memory_order_acquire);
}

outrigger_status Engine::postToOwner(outrigger_request handle, outrigger_callback fn, void* user_data) {
  std::shared_lock<std::shared_mutex> staying(g_engines_leaving);
  Engine* engine = forHandle(handle);
  if (!engine) return OUTRIGGER_E_INVALID;
  // The task finds its engine again on the loop: by then this one may be gone.
  bool queued = engine->loop().post([handle, fn, user_data] {
    Engine* owner = forHandle(handle);
    RequestContext* ctx = owner ? owner->find(handle) : nullptr;
    fn(user_data, ctx && !ctx->ended() ? OUTRIGGER_OK : OUTRIGGER_E_STALE);
  });
  return queued ? OUTRIGGER_OK : OUTRIGGER_E_NOMEM;
}

std::string Engine::newTraceId() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  uint64_t a = rng_(), b = rng_();
  for (int i = 0; i < 16; ++i) {
    id[i] = kHex[(a >> (i * 4)) & 0xf];
    id[16 + i] = kHex[(b >> (i * 4)) & 0xf];
  }
  return id;
}

outrigger_request Engine::start(FrameBuffer frame, const wire::Request* request, ResponseSink* sink,
                                uint64_t stream_id, std::unique_ptr<EmbedInput> embed, const std::string* tenant,
                                const std::string* route) {
  outrigger_request handle = allocateHandle();
  auto* ctx = new RequestContext(*this, handle, std::move(frame), request, sink, stream_id);
  if (embed) ctx->setEmbed(std::move(embed));
  if (tenant) ctx->setTenant(*tenant);
  if (route) ctx->setRoute(*route);
  return launch(ctx);
}

outrigger_request Engine::start(std::unique_ptr<CallInput> input, ResponseSink* sink, uint64_t stream_id) {
  outrigger_request handle = allocateHandle();
  return launch(new RequestContext(*this, handle, std::move(input), sink, stream_id));
}

outrigger_request Engine::startChild(std::unique_ptr<CallInput> input, std::unique_ptr<EmbedInput> embed,
                                     ResponseSink* sink, std::shared_ptr<const WorkerChain> caller_chain) {
  outrigger_request handle = allocateHandle();
  auto* ctx = new RequestContext(*this, handle, std::move(input), sink, 0);
  if (embed) ctx->setEmbed(std::move(embed));
  ctx->runAsChildOn(std::move(caller_chain));
  return launch(ctx);
}

outrigger_request Engine::allocateHandle() {
  loop_.keepHot();  // busy polling, when configured, covers the request's first round trips
  uint32_t index;
  if (!free_slots_.empty()) {
    index = free_slots_.back();
    free_slots_.pop_back();
  } else {
    index = static_cast<uint32_t>(slots_.size());
    slots_.push_back({});
  }
  return outrigger_request{(loop_.index() << kSlotBits) | index, slots_[index].generation};
}

outrigger_request Engine::launch(RequestContext* ctx) {
  outrigger_request handle = ctx->handle();
  slots_[handle.slot & kSlotMask].ctx = ctx;
  ++in_flight_;
  counters_.started.fetch_add(1, std::memory_order_relaxed);
  ctx->begin();
  return handle;
}

RequestContext* Engine::find(outrigger_request handle) const {
  uint32_t index = handle.slot & kSlotMask;
  if ((handle.slot >> kSlotBits) != (loop_.index() & 0xff) || index >= slots_.size()) return nullptr;
  const Slot& s = slots_[index];
  return s.generation == handle.generation ? s.ctx : nullptr;
}

void Engine::release(RequestContext* ctx) {
  uint32_t index = ctx->handle().slot & kSlotMask;
  Slot& s = slots_[index];
  s.ctx = nullptr;
  ++s.generation;  // every outstanding handle to this slot is stale from now on
  free_slots_.push_back(index);
  --in_flight_;
}

void Engine::cancel(outrigger_request handle, Code code, std::string_view message, std::string_view origin) {
  if (RequestContext* ctx = find(handle)) ctx->cancelWith(code, message, origin);
}

void Engine::abandon(outrigger_request handle) {
  if (RequestContext* ctx = find(handle)) {
    ctx->detachSink();
    ctx->cancelWith(Code::kCancelled, "client disconnected", "client");
  }
}

LimitQueue& Engine::limitQueue(const std::string& route) {
  auto it = limit_queues_.find(route);
  if (it == limit_queues_.end()) {
    auto* queue = new LimitQueue(loop_.loop());
    queue->onCountChange([this, queue](int64_t delta) { countWaiting(queue, delta); });
    it = limit_queues_.emplace(route, queue).first;
  }
  return *it->second;
}

// With other workers on the same registry, a request that joins a queue is also tried again on
// the loop's next turn. It found its targets or tenant full before it was counted here, and a
// worker that freed capacity in between saw no waiter to wake. Both sides use sequentially
// consistent operations (the waiting counts here, the in-flight count there), so either that
// worker sees the count and wakes this one, or the second try sees the slot it freed. A waiter
// for tokens has its refill timer as well.
void Engine::countWaiting(LimitQueue* queue, int64_t delta) {
  waiting_.fetch_add(delta);
  health_->addWaiting(delta);
  if (delta > 0 && health_->shared()) queue->wakeIn(0);
}

void Engine::wakeLimitQueues() {
  wakeOwnQueues();
  // Waiters elsewhere exist when the process counts more than this worker holds.
  if (health_->waiting() > waiting_.load()) health_->capacityFreed(this);
}

void Engine::wakeOwnQueues() {
  for (auto& [route, queue] : limit_queues_) queue->wakeIn(0);
}

void Engine::wake() {
  if (wake_token_->posted.exchange(true)) return;  // one already on its way covers this one too
  bool posted = loop_.post([token = wake_token_] {
    token->posted.store(false);  // first: capacity freed while these waiters run posts again
    if (token->engine) token->engine->wakeOwnQueues();
  });
  if (!posted) wake_token_->posted.store(false);  // a stopping loop: its waiters are ending anyway
}

void Engine::resume(outrigger_request handle) {
  if (RequestContext* ctx = find(handle)) ctx->resume();
}

}  // namespace outrigger::chain
