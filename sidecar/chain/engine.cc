#include "chain/engine.h"

#include <array>
#include <cstring>

#include "chain/request_context.h"
#include "outrigger_generated.h"

namespace outrigger::chain {
namespace {

// Handles carry the worker index in the top 8 bits of the slot.
constexpr uint32_t kSlotBits = 24;
constexpr uint32_t kSlotMask = (1u << kSlotBits) - 1;
std::array<std::atomic<Engine*>, 256> g_engines{};

}  // namespace

Engine::Engine(event::EventLoop& loop, EngineSettings settings, telemetry::ExporterThread* exporter)
    : loop_(loop), settings_(settings), exporter_(exporter), rng_(std::random_device{}()) {
  g_engines[loop_.index() & 0xff].store(this, std::memory_order_release);
}

Engine::~Engine() {
  // Requests still in flight end now, without a sink; their handles close on the loop.
  for (Slot& s : slots_) {
    if (RequestContext* ctx = s.ctx) {
      ctx->detachSink();
      ctx->cancelWith(Code::kCancelled, "worker shutting down", "server");
    }
  }
  for (auto& [route, queue] : limit_queues_) queue->close();
  Engine* self = this;
  g_engines[loop_.index() & 0xff].compare_exchange_strong(self, nullptr);
}

Engine* Engine::forHandle(outrigger_request handle) {
  return g_engines[handle.slot >> kSlotBits].load(std::memory_order_acquire);
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
                                uint64_t stream_id, std::unique_ptr<EmbedInput> embed, const std::string* tenant) {
  outrigger_request handle = allocateHandle();
  auto* ctx = new RequestContext(*this, handle, std::move(frame), request, sink, stream_id);
  if (embed) ctx->setEmbed(std::move(embed));
  if (tenant) ctx->setTenant(*tenant);
  return launch(ctx);
}

outrigger_request Engine::start(std::unique_ptr<CallInput> input, ResponseSink* sink, uint64_t stream_id) {
  outrigger_request handle = allocateHandle();
  return launch(new RequestContext(*this, handle, std::move(input), sink, stream_id));
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
  if (it == limit_queues_.end()) it = limit_queues_.emplace(route, new LimitQueue(loop_.loop())).first;
  return *it->second;
}

void Engine::wakeLimitQueues() {
  for (auto& [route, queue] : limit_queues_) queue->wakeIn(0);
}

void Engine::resume(outrigger_request handle) {
  if (RequestContext* ctx = find(handle)) ctx->resume();
}

}  // namespace outrigger::chain
