#include "chain/host_api.h"

#include "chain/engine.h"
#include "chain/request_context.h"
#include "common/clock.h"
#include "common/log.h"
#include "http_client/http_client.h"
#include "plugin/plugin_struct.h"
#include "plugin/str_view.h"
#include "resilience/target_health.h"

namespace outrigger::chain {
namespace {

plugin::PluginInstance* instanceOf(void* host_ctx) { return static_cast<plugin::PluginInstance*>(host_ctx); }

// The live request for `handle` on this thread, or the status to return to the plugin.
outrigger_status lookup(outrigger_request handle, RequestContext** out) {
  Engine* engine = Engine::forHandle(handle);
  if (!engine) return OUTRIGGER_E_INVALID;
  if (!engine->loop().inLoopThread()) return OUTRIGGER_E_WRONG_THREAD;
  RequestContext* ctx = engine->find(handle);
  if (!ctx || ctx->ended()) return OUTRIGGER_E_STALE;
  *out = ctx;
  return OUTRIGGER_OK;
}

void hostLog(void* host_ctx, outrigger_log_level level, outrigger_str message) noexcept {
  auto lvl = static_cast<LogLevel>(level < 0 ? 0 : level > 3 ? 3 : level);
  if (!logEnabled(lvl)) return;
  logLine(lvl, "plugin " + instanceOf(host_ctx)->name(),
          sv(message));
}

uint64_t hostNow(void*) noexcept { return monoNowNs(); }

outrigger_status hostPost(void*, outrigger_request handle, outrigger_callback fn, void* user_data) noexcept {
  if (!fn) return OUTRIGGER_E_INVALID;
  return Engine::postToOwner(handle, fn, user_data);
}

outrigger_status hostSetTimer(void*, outrigger_request handle, uint32_t delay_ms, outrigger_callback fn,
                              void* user_data) noexcept {
  if (!fn) return OUTRIGGER_E_INVALID;
  RequestContext* ctx = nullptr;
  if (outrigger_status st = lookup(handle, &ctx); st != OUTRIGGER_OK) return st;
  return ctx->setTimer(delay_ms, fn, user_data);
}

outrigger_status hostGuardrailDone(void* host_ctx, outrigger_request handle, outrigger_verdict verdict,
                                   outrigger_str reason) noexcept {
  RequestContext* ctx = nullptr;
  if (outrigger_status st = lookup(handle, &ctx); st != OUTRIGGER_OK) return st;
  return ctx->guardrailDone(instanceOf(host_ctx), verdict,
                            sv(reason));
}

// Every view a plugin passes in is read through plugin::copyPluginStruct: sized at least as its
// oldest layout, and never read past its struct_size (see plugin/plugin_struct.h).

outrigger_status hostCacheDone(void* host_ctx, outrigger_request handle, const outrigger_response_view* hit) noexcept {
  outrigger_response_view copy;
  if (hit && !plugin::copyPluginStruct(hit, OUTRIGGER_MIN_SIZE_RESPONSE_VIEW, &copy)) return OUTRIGGER_E_INVALID;
  RequestContext* ctx = nullptr;
  if (outrigger_status st = lookup(handle, &ctx); st != OUTRIGGER_OK) return st;
  return ctx->cacheDone(instanceOf(host_ctx), hit ? &copy : nullptr);
}

outrigger_status hostProviderChunk(void* host_ctx, outrigger_request handle, const outrigger_chunk_view* chunk) noexcept {
  outrigger_chunk_view copy;
  if (!plugin::copyPluginStruct(chunk, OUTRIGGER_MIN_SIZE_CHUNK_VIEW, &copy)) return OUTRIGGER_E_INVALID;
  RequestContext* ctx = nullptr;
  if (outrigger_status st = lookup(handle, &ctx); st != OUTRIGGER_OK) return st;
  return ctx->providerChunk(instanceOf(host_ctx), copy);
}

outrigger_status hostProviderDone(void* host_ctx, outrigger_request handle, const outrigger_response_view* r) noexcept {
  outrigger_response_view copy;
  if (!plugin::copyPluginStruct(r, OUTRIGGER_MIN_SIZE_RESPONSE_VIEW, &copy)) return OUTRIGGER_E_INVALID;
  RequestContext* ctx = nullptr;
  if (outrigger_status st = lookup(handle, &ctx); st != OUTRIGGER_OK) return st;
  return ctx->providerDone(instanceOf(host_ctx), copy);
}

// The worker's HTTP client for a handle on its own thread, or the status to return.
outrigger_status httpClientFor(outrigger_request handle, http_client::HttpClient** out) {
  Engine* engine = Engine::forHandle(handle);
  if (!engine) return OUTRIGGER_E_INVALID;
  if (!engine->loop().inLoopThread()) return OUTRIGGER_E_WRONG_THREAD;
  if (!engine->httpClient()) return OUTRIGGER_E_UNSUPPORTED;
  *out = engine->httpClient();
  return OUTRIGGER_OK;
}

outrigger_status hostHttpRequest(void*, outrigger_request handle, const outrigger_http_request* http,
                                 const outrigger_http_sink* sink, void* user_data, uint64_t* transfer_id) noexcept {
  outrigger_http_request http_copy;
  outrigger_http_sink sink_copy;
  if (!transfer_id || !plugin::copyPluginStruct(http, OUTRIGGER_MIN_SIZE_HTTP_REQUEST, &http_copy) ||
      !plugin::copyPluginStruct(sink, OUTRIGGER_MIN_SIZE_HTTP_SINK, &sink_copy)) {
    return OUTRIGGER_E_INVALID;
  }
  RequestContext* ctx = nullptr;
  if (outrigger_status st = lookup(handle, &ctx); st != OUTRIGGER_OK) return st;
  http_client::HttpClient* client = nullptr;
  if (outrigger_status st = httpClientFor(handle, &client); st != OUTRIGGER_OK) return st;
  try {
    return client->start(handle, ctx->deadlineNs(), http_copy, sink_copy, user_data, transfer_id);
  } catch (...) {
    return OUTRIGGER_E_NOMEM;
  }
}

outrigger_status hostHttpCancel(void*, outrigger_request handle, uint64_t transfer_id) noexcept {
  http_client::HttpClient* client = nullptr;
  if (outrigger_status st = httpClientFor(handle, &client); st != OUTRIGGER_OK) return st;
  return client->cancel(handle, transfer_id);
}

outrigger_status hostHttpResume(void*, outrigger_request handle, uint64_t transfer_id) noexcept {
  http_client::HttpClient* client = nullptr;
  if (outrigger_status st = httpClientFor(handle, &client); st != OUTRIGGER_OK) return st;
  try {
    return client->resume(handle, transfer_id);
  } catch (...) {
    return OUTRIGGER_E_INTERNAL;
  }
}

outrigger_status hostEmbeddingsDone(void* host_ctx, outrigger_request handle,
                                    const outrigger_embeddings_view* e) noexcept {
  outrigger_embeddings_view copy;
  if (!plugin::copyPluginStruct(e, OUTRIGGER_MIN_SIZE_EMBEDDINGS_VIEW, &copy)) return OUTRIGGER_E_INVALID;
  RequestContext* ctx = nullptr;
  if (outrigger_status st = lookup(handle, &ctx); st != OUTRIGGER_OK) return st;
  try {
    return ctx->embeddingsDone(instanceOf(host_ctx), copy);
  } catch (...) {
    return OUTRIGGER_E_NOMEM;
  }
}

outrigger_status hostGuardrailDecided(void* host_ctx, outrigger_request handle, outrigger_status decision,
                                      outrigger_verdict verdict, outrigger_str reason,
                                      const outrigger_guardrail_action* action) noexcept {
  RequestContext* ctx = nullptr;
  if (outrigger_status st = lookup(handle, &ctx); st != OUTRIGGER_OK) return st;
  try {
    return ctx->guardrailDecided(instanceOf(host_ctx), decision, verdict,
                                 sv(reason), action);
  } catch (...) {
    return OUTRIGGER_E_NOMEM;
  }
}

outrigger_status hostSetRequestState(void* host_ctx, outrigger_request handle, void* state,
                                     void (*release)(void*)) noexcept {
  RequestContext* ctx = nullptr;
  if (outrigger_status st = lookup(handle, &ctx); st != OUTRIGGER_OK) return st;
  try {
    return ctx->setPluginState(instanceOf(host_ctx), state, release);
  } catch (...) {
    return OUTRIGGER_E_NOMEM;
  }
}

// Unlike the other calls, answers for a request that has ended until its states are released:
// the end settles the attempt it cut short with the limiters, and a limiter reads its admission
// there (a reservation a cancelled stream used must be charged, not refunded for want of it).
void* hostRequestState(void* host_ctx, outrigger_request handle) noexcept {
  Engine* engine = Engine::forHandle(handle);
  if (!engine || !engine->loop().inLoopThread()) return nullptr;
  RequestContext* ctx = engine->find(handle);
  return ctx ? ctx->pluginState(instanceOf(host_ctx)) : nullptr;
}

outrigger_status hostLimiterDone(void* host_ctx, outrigger_request handle, outrigger_code code, uint32_t retry_after_ms,
                                 outrigger_str reason) noexcept {
  RequestContext* ctx = nullptr;
  if (outrigger_status st = lookup(handle, &ctx); st != OUTRIGGER_OK) return st;
  try {
    return ctx->limiterDone(instanceOf(host_ctx), code, retry_after_ms,
                            sv(reason));
  } catch (...) {
    return OUTRIGGER_E_NOMEM;
  }
}

outrigger_status hostComplete(void* host_ctx, outrigger_request handle, const outrigger_model_call* call,
                              outrigger_complete_callback done, void* user_data) noexcept {
  if (!done) return OUTRIGGER_E_INVALID;
  RequestContext* ctx = nullptr;
  if (outrigger_status st = lookup(handle, &ctx); st != OUTRIGGER_OK) return st;
  try {
    return ctx->startModelCall(instanceOf(host_ctx), call, done, nullptr, user_data);
  } catch (...) {
    return OUTRIGGER_E_NOMEM;
  }
}

outrigger_status hostEmbed(void* host_ctx, outrigger_request handle, const outrigger_model_call* call,
                           outrigger_embed_callback done, void* user_data) noexcept {
  if (!done) return OUTRIGGER_E_INVALID;
  RequestContext* ctx = nullptr;
  if (outrigger_status st = lookup(handle, &ctx); st != OUTRIGGER_OK) return st;
  try {
    return ctx->startModelCall(instanceOf(host_ctx), call, nullptr, done, user_data);
  } catch (...) {
    return OUTRIGGER_E_NOMEM;
  }
}

outrigger_status hostSpanAttribute(void* host_ctx, outrigger_request handle, outrigger_str key,
                                   outrigger_str value) noexcept {
  RequestContext* ctx = nullptr;
  if (outrigger_status st = lookup(handle, &ctx); st != OUTRIGGER_OK) return st;
  try {
    return ctx->addPluginSpanAttribute(instanceOf(host_ctx), sv(key),
                                       sv(value));
  } catch (...) {
    return OUTRIGGER_E_NOMEM;
  }
}

outrigger_status hostModelLimits(void*, outrigger_request handle, outrigger_str model,
                                 outrigger_model_limits* out) noexcept {
  if (!out || out->hdr.struct_size < OUTRIGGER_SIZE_THROUGH(outrigger_model_limits, max_output)) return OUTRIGGER_E_INVALID;
  RequestContext* ctx = nullptr;
  if (outrigger_status st = lookup(handle, &ctx); st != OUTRIGGER_OK) return st;
  try {
    const cost::ModelPrice* e = ctx->modelLimits(sv(model));
    out->context_window = e ? e->context_window : 0;
    out->max_input = e ? e->max_input : 0;
    out->max_output = e ? e->max_output : 0;
    if (out->hdr.struct_size >= OUTRIGGER_SIZE_THROUGH(outrigger_model_limits, model)) {
      out->provider = e ? outrigger_str{e->provider.data(), e->provider.size()} : outrigger_str{};
      out->model = e ? outrigger_str{e->model.data(), e->model.size()} : outrigger_str{};
    }
    return OUTRIGGER_OK;
  } catch (...) {
    return OUTRIGGER_E_NOMEM;
  }
}

// The instance's own loop (plugin/instance_loop.h): no request handle, the instance's worker.

template <class F>
outrigger_status onInstanceLoop(void* host_ctx, F&& f) noexcept {
  try {
    return f(*instanceOf(host_ctx)->instanceLoop());
  } catch (...) {
    return OUTRIGGER_E_NOMEM;
  }
}

outrigger_status hostInstancePost(void* host_ctx, outrigger_callback fn, void* user_data) noexcept {
  return onInstanceLoop(host_ctx, [&](plugin::InstanceLoop& l) { return l.post(fn, user_data); });
}

outrigger_status hostInstanceTimer(void* host_ctx, uint32_t delay_ms, uint32_t repeat_ms, outrigger_callback fn,
                                   void* user_data, uint64_t* timer_id) noexcept {
  return onInstanceLoop(host_ctx, [&](plugin::InstanceLoop& l) {
    return l.setTimer(delay_ms, repeat_ms, fn, user_data, timer_id);
  });
}

outrigger_status hostInstanceTimerCancel(void* host_ctx, uint64_t timer_id) noexcept {
  return onInstanceLoop(host_ctx, [&](plugin::InstanceLoop& l) { return l.cancelTimer(timer_id); });
}

outrigger_status hostWatchFd(void* host_ctx, int fd, uint32_t events, outrigger_fd_callback fn, void* user_data,
                             uint64_t* watch_id) noexcept {
  return onInstanceLoop(host_ctx, [&](plugin::InstanceLoop& l) {
    return l.watch(fd, events, fn, user_data, watch_id);
  });
}

outrigger_status hostWatchFdUpdate(void* host_ctx, uint64_t watch_id, uint32_t events) noexcept {
  return onInstanceLoop(host_ctx, [&](plugin::InstanceLoop& l) { return l.updateWatch(watch_id, events); });
}

outrigger_status hostUnwatchFd(void* host_ctx, uint64_t watch_id) noexcept {
  return onInstanceLoop(host_ctx, [&](plugin::InstanceLoop& l) { return l.unwatch(watch_id); });
}

outrigger_status hostInstanceHttpRequest(void* host_ctx, const outrigger_http_request* http,
                                         const outrigger_http_sink* sink, void* user_data,
                                         uint64_t* transfer_id) noexcept {
  outrigger_http_request http_copy;
  outrigger_http_sink sink_copy;
  if (!transfer_id || !plugin::copyPluginStruct(http, OUTRIGGER_MIN_SIZE_HTTP_REQUEST, &http_copy) ||
      !plugin::copyPluginStruct(sink, OUTRIGGER_MIN_SIZE_HTTP_SINK, &sink_copy)) {
    return OUTRIGGER_E_INVALID;
  }
  return onInstanceLoop(host_ctx, [&](plugin::InstanceLoop& l) {
    return l.httpRequest(http_copy, sink_copy, user_data, transfer_id);
  });
}

outrigger_status hostInstanceHttpCancel(void* host_ctx, uint64_t transfer_id) noexcept {
  return onInstanceLoop(host_ctx, [&](plugin::InstanceLoop& l) { return l.httpCancel(transfer_id); });
}

outrigger_status hostInstanceHttpResume(void* host_ctx, uint64_t transfer_id) noexcept {
  return onInstanceLoop(host_ctx, [&](plugin::InstanceLoop& l) { return l.httpResume(transfer_id); });
}

// The process's circuit breakers, for a fleet to share (limiter.redis).

outrigger_status hostBreakers(void* host_ctx, outrigger_breaker_visitor visit, void* user_data) noexcept {
  if (!visit) return OUTRIGGER_E_INVALID;
  return onInstanceLoop(host_ctx, [&](plugin::InstanceLoop& l) -> outrigger_status {
    resilience::HealthRegistry* health = nullptr;
    if (outrigger_status st = l.health(&health); st != OUTRIGGER_OK) return st;
    for (const auto& b : health->breakerSnapshots(monoNowNs())) {
      outrigger_breaker_view v{};
      v.target = {b.key.data(), b.key.size()};
      v.state = b.state == resilience::CircuitBreaker::State::kOpen       ? OUTRIGGER_BREAKER_OPEN
                : b.state == resilience::CircuitBreaker::State::kHalfOpen ? OUTRIGGER_BREAKER_HALF_OPEN
                                                                          : OUTRIGGER_BREAKER_CLOSED;
      v.opened_here = b.opened_here ? 1 : 0;
      v.open_remaining_ms = b.open_remaining_ms;
      v.times_opened = b.times_opened;
      visit(user_data, &v);
    }
    return OUTRIGGER_OK;
  });
}

outrigger_status hostBreakerOpen(void* host_ctx, outrigger_str target, uint32_t open_ms) noexcept {
  return onInstanceLoop(host_ctx, [&](plugin::InstanceLoop& l) -> outrigger_status {
    resilience::HealthRegistry* health = nullptr;
    if (outrigger_status st = l.health(&health); st != OUTRIGGER_OK) return st;
    std::string_view key = sv(target);
    return health->openBreaker(key, monoNowNs(), open_ms) ? OUTRIGGER_OK : OUTRIGGER_E_INVALID;
  });
}

}  // namespace

const outrigger_host_api& hostApiTemplate() {
  static const outrigger_host_api api = {
      OUTRIGGER_HEADER_INIT(outrigger_host_api),
      nullptr,
      &hostLog,
      &hostNow,
      &hostPost,
      &hostSetTimer,
      &hostGuardrailDone,
      &hostCacheDone,
      &hostProviderChunk,
      &hostProviderDone,
      &hostHttpRequest,
      &hostHttpCancel,
      &hostHttpResume,
      &hostEmbeddingsDone,
      &hostGuardrailDecided,
      &hostSetRequestState,
      &hostRequestState,
      &hostLimiterDone,
      &hostComplete,
      &hostEmbed,
      &hostInstancePost,
      &hostInstanceTimer,
      &hostInstanceTimerCancel,
      &hostWatchFd,
      &hostWatchFdUpdate,
      &hostUnwatchFd,
      &hostInstanceHttpRequest,
      &hostInstanceHttpCancel,
      &hostInstanceHttpResume,
      &hostSpanAttribute,
      &hostBreakers,
      &hostBreakerOpen,
      &hostModelLimits,
  };
  return api;
}

}  // namespace outrigger::chain
