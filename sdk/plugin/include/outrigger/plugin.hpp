// Header-only C++ wrapper over the Outrigger plugin C ABI (outrigger/plugin.h).
//
// Write a class deriving from Provider, Guardrail, Cache, Limiter or Exporter, give it the static
// members kName, kDescription, kConfigSchema (and optionally kStability, kCapabilities), a
// constructor (Host, std::string_view instance_name, std::string_view config_json), and list
// it in OUTRIGGER_PLUGIN. The wrapper generates the C tables and trampolines.
//
// Failure policy: every trampoline is noexcept. An exception escaping a hook is caught, logged
// through the host, and poisons the instance: that hook and every later one return
// OUTRIGGER_E_PLUGIN_EXCEPTION without calling the class again, so the host's on_error policy
// applies (fail closed by default).
#ifndef OUTRIGGER_PLUGIN_HPP
#define OUTRIGGER_PLUGIN_HPP

#if __cplusplus < 202002L
#error "outrigger/plugin.hpp needs C++20 (-std=c++20; outrigger_add_plugin sets it). Plain C plugins use outrigger/plugin.h."
#endif

#include <outrigger/plugin.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace outrigger::plugin {

inline std::string_view view(outrigger_str s) noexcept {
  return s.size ? std::string_view(s.data, s.size) : std::string_view();
}
inline outrigger_str str(std::string_view s) noexcept { return {s.data(), s.size()}; }

// The names exporters write for the codes, verdicts and capture levels a record carries, spelled
// as on the wire (UNAVAILABLE, deny, full); an unknown value is "UNKNOWN" / "unknown" / "none".
inline const char* codeName(int32_t code) noexcept {
  static const char* const kNames[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
                                       "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
                                       "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  return code >= 0 && code < 17 ? kNames[code] : "UNKNOWN";
}
inline const char* verdictName(int32_t verdict) noexcept {
  static const char* const kNames[] = {"pass", "flag", "deny", "rewrite", "skipped", "error"};
  return verdict >= 0 && verdict < 6 ? kNames[verdict] : "unknown";
}
inline const char* captureName(int32_t capture) noexcept {
  static const char* const kNames[] = {"none", "metadata", "full"};
  return capture >= 0 && capture < 3 ? kNames[capture] : "none";
}

// Callback for post() and setTimer(): receives OUTRIGGER_OK, or OUTRIGGER_E_STALE when the
// request ended before it could run.
using Callback = std::function<void(outrigger_status)>;

// Receiver of one outbound HTTP transfer (Host::httpRequest, Host::instanceHttpRequest).
// Callbacks run on the request's (or the instance's) loop; an exception in one aborts the
// transfer. The object must outlive the transfer: until
// onComplete has run, or until Host::httpCancel (Host::instanceHttpCancel) has returned.
class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  virtual outrigger_status onHead(const outrigger_http_response_head&) { return OUTRIGGER_OK; }
  // OUTRIGGER_OK for more, OUTRIGGER_PAUSE to wait for Host::httpResume, negative to abort.
  virtual outrigger_status onBody(std::string_view bytes) = 0;
  virtual void onComplete(const outrigger_http_result& result) = 0;

  static const outrigger_http_sink* sink() noexcept {
    static const outrigger_http_sink table = {
        OUTRIGGER_HEADER_INIT(outrigger_http_sink),
        [](void* u, const outrigger_http_response_head* h) noexcept -> outrigger_status {
          try { return static_cast<HttpHandler*>(u)->onHead(*h); } catch (...) { return OUTRIGGER_E_PLUGIN_EXCEPTION; }
        },
        [](void* u, outrigger_str b) noexcept -> outrigger_status {
          try {
            return static_cast<HttpHandler*>(u)->onBody(b.size ? std::string_view(b.data, b.size) : std::string_view());
          } catch (...) {
            return OUTRIGGER_E_PLUGIN_EXCEPTION;
          }
        },
        [](void* u, const outrigger_http_result* r) noexcept {
          try { static_cast<HttpHandler*>(u)->onComplete(*r); } catch (...) {}
        },
    };
    return &table;
  }
};

// The host's functions for one instance. Cheap to copy.
class Host {
 public:
  explicit Host(const outrigger_host_api* api) : api_(api) {}

  void log(outrigger_log_level level, std::string_view message) const noexcept {
    api_->log(api_->host_ctx, level, str(message));
  }
  uint64_t nowNs() const noexcept { return api_->now_ns(api_->host_ctx); }

  // [any] Runs `fn` on the request's loop.
  outrigger_status post(outrigger_request request, Callback fn) const {
    return boxed(api_, std::move(fn), [&](outrigger_callback tramp, void* box) {
      return api_->post(api_->host_ctx, request, tramp, box);
    });
  }
  // [loop] Runs `fn` on the request's loop after delay_ms.
  outrigger_status setTimer(outrigger_request request, uint32_t delay_ms, Callback fn) const {
    return boxed(api_, std::move(fn), [&](outrigger_callback tramp, void* box) {
      return api_->set_timer(api_->host_ctx, request, delay_ms, tramp, box);
    });
  }
  outrigger_status guardrailDone(outrigger_request r, outrigger_verdict v, std::string_view reason) const noexcept {
    return api_->guardrail_done(api_->host_ctx, r, v, str(reason));
  }
  outrigger_status cacheDone(outrigger_request r, const outrigger_response_view* hit) const noexcept {
    return api_->cache_done(api_->host_ctx, r, hit);
  }
  outrigger_status providerChunk(outrigger_request r, const outrigger_chunk_view& chunk) const noexcept {
    return api_->provider_chunk(api_->host_ctx, r, &chunk);
  }
  outrigger_status providerDone(outrigger_request r, const outrigger_response_view& response) const noexcept {
    return api_->provider_done(api_->host_ctx, r, &response);
  }
  // [loop] Completion of Provider::embed, exactly once; OUTRIGGER_E_UNSUPPORTED from a host
  // older than ABI minor 1's embeddings.
  outrigger_status embeddingsDone(outrigger_request r, const outrigger_embeddings_view& embeddings) const noexcept {
    if (!OUTRIGGER_HAS_SLOT(api_, outrigger_host_api, embeddings_done)) return OUTRIGGER_E_UNSUPPORTED;
    return api_->embeddings_done(api_->host_ctx, r, &embeddings);
  }
  // [loop] Completion of a pending guardrail hook with what it changes (ABI minor 2); see
  // outrigger_host_api::guardrail_decided. OUTRIGGER_E_UNSUPPORTED from an older host.
  outrigger_status guardrailDecided(outrigger_request r, outrigger_status decision, outrigger_verdict verdict,
                                    std::string_view reason, const outrigger_guardrail_action* action) const noexcept {
    if (!OUTRIGGER_HAS_SLOT(api_, outrigger_host_api, guardrail_decided)) return OUTRIGGER_E_UNSUPPORTED;
    return api_->guardrail_decided(api_->host_ctx, r, decision, verdict, str(reason), action);
  }
  // [loop] Completion of a pending Limiter::admit (ABI minor 2): OUTRIGGER_CODE_OK admits,
  // anything else refuses with that code. Exactly once.
  outrigger_status limiterDone(outrigger_request r, outrigger_code code, uint32_t retry_after_ms,
                               std::string_view reason) const noexcept {
    if (!OUTRIGGER_HAS_SLOT(api_, outrigger_host_api, limiter_done)) return OUTRIGGER_E_UNSUPPORTED;
    return api_->limiter_done(api_->host_ctx, r, code, retry_after_ms, str(reason));
  }
  // [loop] This instance's state on request `r` (ABI minor 2): `release` runs once when the
  // request has ended or the state is replaced.
  outrigger_status setRequestState(outrigger_request r, void* state, void (*release)(void*)) const noexcept {
    if (!OUTRIGGER_HAS_SLOT(api_, outrigger_host_api, set_request_state)) return OUTRIGGER_E_UNSUPPORTED;
    return api_->set_request_state(api_->host_ctx, r, state, release);
  }
  // [loop] Typed convenience: owns `state` until the request ends.
  template <class T>
  outrigger_status setRequestState(outrigger_request r, std::unique_ptr<T> state) const noexcept {
    outrigger_status st = setRequestState(r, state.get(), [](void* p) { delete static_cast<T*>(p); });
    if (st == OUTRIGGER_OK) state.release();
    return st;
  }
  // [loop] Records `key` = `value` on this instance's open span of request `r` (ABI minor 2,
  // later builds); OUTRIGGER_E_UNSUPPORTED from an older host.
  outrigger_status spanAttribute(outrigger_request r, std::string_view key, std::string_view value) const noexcept {
    if (!OUTRIGGER_HAS_SLOT(api_, outrigger_host_api, span_attribute)) return OUTRIGGER_E_UNSUPPORTED;
    return api_->span_attribute(api_->host_ctx, r, str(key), str(value));
  }
  // [loop] `model`'s token limits from the host's model table, the config's [prices] included
  // (ABI minor 2, later builds); OUTRIGGER_E_UNSUPPORTED from an older host. *out is initialized
  // here; its members stay 0 when the table has no limits for the model.
  outrigger_status modelLimits(outrigger_request r, std::string_view model, outrigger_model_limits* out) const noexcept {
    if (!out) return OUTRIGGER_E_INVALID;
    *out = {};
    out->hdr = OUTRIGGER_HEADER_INIT(outrigger_model_limits);
    if (!OUTRIGGER_HAS_SLOT(api_, outrigger_host_api, model_limits)) return OUTRIGGER_E_UNSUPPORTED;
    return api_->model_limits(api_->host_ctx, r, str(model), out);
  }
  void* requestState(outrigger_request r) const noexcept {
    if (!OUTRIGGER_HAS_SLOT(api_, outrigger_host_api, request_state)) return nullptr;
    return api_->request_state(api_->host_ctx, r);
  }
  // [loop] A model call through the host (ABI minor 2): runs `call.route` as a child of `r`; `fn`
  // gets the answer exactly once (possibly before this returns) when the result is
  // OUTRIGGER_OK. OUTRIGGER_E_UNSUPPORTED from an older host.
  using CompleteFn = std::function<void(const outrigger_response_view&)>;
  using EmbedFn = std::function<void(const outrigger_embeddings_view&)>;
  outrigger_status complete(outrigger_request r, const outrigger_model_call& call, CompleteFn fn) const {
    if (!OUTRIGGER_HAS_SLOT(api_, outrigger_host_api, complete)) return OUTRIGGER_E_UNSUPPORTED;
    auto* box = new Box<CompleteFn>{std::move(fn), api_};
    outrigger_status st = api_->complete(api_->host_ctx, r, &call, &Host::answered<CompleteFn, outrigger_response_view>, box);
    if (st != OUTRIGGER_OK) delete box;
    return st;
  }
  outrigger_status embed(outrigger_request r, const outrigger_model_call& call, EmbedFn fn) const {
    if (!OUTRIGGER_HAS_SLOT(api_, outrigger_host_api, embed)) return OUTRIGGER_E_UNSUPPORTED;
    auto* box = new Box<EmbedFn>{std::move(fn), api_};
    outrigger_status st = api_->embed(api_->host_ctx, r, &call, &Host::answered<EmbedFn, outrigger_embeddings_view>, box);
    if (st != OUTRIGGER_OK) delete box;
    return st;
  }
  // True when the host offers outbound HTTP (ABI minor 1 and later).
  bool hasHttp() const noexcept {
    return OUTRIGGER_HAS_SLOT(api_, outrigger_host_api, http_request) &&
           OUTRIGGER_HAS_SLOT(api_, outrigger_host_api, http_cancel) &&
           OUTRIGGER_HAS_SLOT(api_, outrigger_host_api, http_resume);
  }
  // [loop] Starts a transfer delivering to `handler`; see outrigger_host_api::http_request.
  outrigger_status httpRequest(outrigger_request r, const outrigger_http_request& http, HttpHandler* handler,
                               uint64_t* transfer_id) const noexcept {
    if (!hasHttp()) return OUTRIGGER_E_UNSUPPORTED;
    return api_->http_request(api_->host_ctx, r, &http, HttpHandler::sink(), handler, transfer_id);
  }
  outrigger_status httpCancel(outrigger_request r, uint64_t transfer_id) const noexcept {
    return hasHttp() ? api_->http_cancel(api_->host_ctx, r, transfer_id) : OUTRIGGER_E_UNSUPPORTED;
  }
  outrigger_status httpResume(outrigger_request r, uint64_t transfer_id) const noexcept {
    return hasHttp() ? api_->http_resume(api_->host_ctx, r, transfer_id) : OUTRIGGER_E_UNSUPPORTED;
  }
  // True when the host offers the instance's own loop (ABI minor 2): instancePost,
  // instanceTimer and watchFd.
  bool hasInstanceLoop() const noexcept {
    return OUTRIGGER_HAS_SLOT(api_, outrigger_host_api, instance_post) &&
           OUTRIGGER_HAS_SLOT(api_, outrigger_host_api, unwatch_fd);
  }
  // [any] Runs `fn` on this instance's loop, exactly once: OUTRIGGER_OK, or OUTRIGGER_E_STALE
  // when the instance is torn down first. Works from the constructor too (it runs once the
  // worker installs the instance; an exporter's once the exporter thread adopts it).
  // OUTRIGGER_E_UNSUPPORTED for shared instances and older hosts.
  outrigger_status instancePost(Callback fn) const {
    if (!hasInstanceLoop()) return OUTRIGGER_E_UNSUPPORTED;
    return boxed(api_, std::move(fn), [&](outrigger_callback tramp, void* box) {
      return api_->instance_post(api_->host_ctx, tramp, box);
    });
  }
  // [instance loop] Runs `fn` after delay_ms, then every repeat_ms when it is not 0. A one-shot
  // `fn` runs once (OK, or STALE when cancelled first); a repeating one runs with OK each time
  // and last with OUTRIGGER_E_STALE (instanceTimerCancel or teardown). The function is freed
  // after its last call.
  outrigger_status instanceTimer(uint32_t delay_ms, uint32_t repeat_ms, Callback fn, uint64_t* timer_id) const {
    if (!hasInstanceLoop()) return OUTRIGGER_E_UNSUPPORTED;
    auto* box = new TimerBox{{std::move(fn), api_}, repeat_ms != 0};
    outrigger_status st =
        api_->instance_timer(api_->host_ctx, delay_ms, repeat_ms, &Host::timerTrampoline, box, timer_id);
    if (st != OUTRIGGER_OK) delete box;
    return st;
  }
  outrigger_status instanceTimerCancel(uint64_t timer_id) const noexcept {
    return hasInstanceLoop() ? api_->instance_timer_cancel(api_->host_ctx, timer_id) : OUTRIGGER_E_UNSUPPORTED;
  }
  // [instance loop] Calls `fn(fd, ready, OUTRIGGER_OK)` when `fd` is ready for some of `events`
  // (OUTRIGGER_FD_* bits), and last `fn(fd, 0, OUTRIGGER_E_STALE)` after unwatchFd or at
  // teardown. The plugin owns `fd` and closes it after unwatchFd.
  using FdCallback = std::function<void(int fd, uint32_t ready, outrigger_status status)>;
  outrigger_status watchFd(int fd, uint32_t events, FdCallback fn, uint64_t* watch_id) const {
    if (!hasInstanceLoop()) return OUTRIGGER_E_UNSUPPORTED;
    auto* box = new Box<FdCallback>{std::move(fn), api_};
    outrigger_status st = api_->watch_fd(api_->host_ctx, fd, events, &Host::fdTrampoline, box, watch_id);
    if (st != OUTRIGGER_OK) delete box;
    return st;
  }
  outrigger_status watchFdUpdate(uint64_t watch_id, uint32_t events) const noexcept {
    return hasInstanceLoop() ? api_->watch_fd_update(api_->host_ctx, watch_id, events) : OUTRIGGER_E_UNSUPPORTED;
  }
  outrigger_status unwatchFd(uint64_t watch_id) const noexcept {
    return hasInstanceLoop() ? api_->unwatch_fd(api_->host_ctx, watch_id) : OUTRIGGER_E_UNSUPPORTED;
  }
  // [instance loop] The process's circuit breakers (ABI minor 2, later builds); see
  // outrigger_host_api::breakers. OUTRIGGER_E_UNSUPPORTED from an older host.
  using BreakerFn = std::function<void(const outrigger_breaker_view&)>;
  outrigger_status breakers(const BreakerFn& fn) const {
    if (!OUTRIGGER_HAS_SLOT(api_, outrigger_host_api, breakers)) return OUTRIGGER_E_UNSUPPORTED;
    Box<const BreakerFn&> box{fn, api_};
    return api_->breakers(api_->host_ctx, [](void* user_data, const outrigger_breaker_view* b) {
      auto* visit = static_cast<Box<const BreakerFn&>*>(user_data);
      shielded(visit->api, [&] { visit->fn(*b); });
    }, &box);
  }
  outrigger_status breakerOpen(std::string_view target, uint32_t open_ms) const noexcept {
    if (!OUTRIGGER_HAS_SLOT(api_, outrigger_host_api, breaker_open)) return OUTRIGGER_E_UNSUPPORTED;
    return api_->breaker_open(api_->host_ctx, str(target), open_ms);
  }
  // True when the host offers transfers owned by the instance (ABI minor 2, after unwatch_fd).
  bool hasInstanceHttp() const noexcept {
    return OUTRIGGER_HAS_SLOT(api_, outrigger_host_api, instance_http_request) &&
           OUTRIGGER_HAS_SLOT(api_, outrigger_host_api, instance_http_resume);
  }
  // [instance loop] Like httpRequest, without a request: the transfer belongs to this instance,
  // runs on its loop (an exporter's: the exporter thread), is bounded by `http`'s own timeouts
  // and completes with OUTRIGGER_HTTP_E_CANCELLED if the instance is torn down first.
  // OUTRIGGER_E_NOMEM beyond OUTRIGGER_INSTANCE_MAX_HTTP_TRANSFERS in flight.
  outrigger_status instanceHttpRequest(const outrigger_http_request& http, HttpHandler* handler,
                                       uint64_t* transfer_id) const noexcept {
    if (!hasInstanceHttp()) return OUTRIGGER_E_UNSUPPORTED;
    return api_->instance_http_request(api_->host_ctx, &http, HttpHandler::sink(), handler, transfer_id);
  }
  outrigger_status instanceHttpCancel(uint64_t transfer_id) const noexcept {
    return hasInstanceHttp() ? api_->instance_http_cancel(api_->host_ctx, transfer_id) : OUTRIGGER_E_UNSUPPORTED;
  }
  outrigger_status instanceHttpResume(uint64_t transfer_id) const noexcept {
    return hasInstanceHttp() ? api_->instance_http_resume(api_->host_ctx, transfer_id) : OUTRIGGER_E_UNSUPPORTED;
  }
  const outrigger_host_api* api() const noexcept { return api_; }

 private:
  // A callback and the host to report an exception it lets escape to.
  template <class Fn>
  struct Box {
    Fn fn;
    const outrigger_host_api* api;
  };
  struct TimerBox : Box<Callback> {
    bool repeating;
  };
  // Runs `f`; an exception it throws cannot cross into the host's frame, so it is logged through
  // the host, as the wrapper logs a hook's, and dropped.
  template <class F>
  static void shielded(const outrigger_host_api* api, F&& f) noexcept {
    try {
      f();
    } catch (const std::exception& e) {
      report(api, e.what());
    } catch (...) {
      report(api, "unknown exception");
    }
  }
  static void report(const outrigger_host_api* api, const char* what) noexcept {
    char line[512];
    int n = std::snprintf(line, sizeof line, "an exception escaped a callback and was dropped: %s", what);
    if (n > 0) api->log(api->host_ctx, OUTRIGGER_LOG_ERROR, outrigger_str{line, size_t(n) < sizeof line ? size_t(n) : sizeof line - 1});
  }
  static void timerTrampoline(void* user_data, outrigger_status status) noexcept {
    auto* box = static_cast<TimerBox*>(user_data);
    bool last = !box->repeating || status != OUTRIGGER_OK;
    shielded(box->api, [&] { box->fn(status); });
    if (last) delete box;
  }
  static void fdTrampoline(void* user_data, int fd, uint32_t ready, outrigger_status status) noexcept {
    auto* box = static_cast<Box<FdCallback>*>(user_data);
    shielded(box->api, [&] { box->fn(fd, ready, status); });
    if (status == OUTRIGGER_E_STALE) delete box;
  }

  template <class Submit>
  static outrigger_status boxed(const outrigger_host_api* api, Callback fn, Submit&& submit) {
    auto* box = new Box<Callback>{std::move(fn), api};
    outrigger_status st = submit(&Host::trampoline, box);
    if (st != OUTRIGGER_OK) delete box;  // an async call that fails never calls back
    return st;
  }
  template <class Fn, class View>
  static void answered(void* user_data, const View* view) noexcept {
    std::unique_ptr<Box<Fn>> box(static_cast<Box<Fn>*>(user_data));
    shielded(box->api, [&] { box->fn(*view); });
  }
  static void trampoline(void* user_data, outrigger_status status) noexcept {
    std::unique_ptr<Box<Callback>> box(static_cast<Box<Callback>*>(user_data));
    shielded(box->api, [&] { box->fn(status); });
  }

  const outrigger_host_api* api_;
};

// Builders for response and chunk views whose strings the caller keeps alive for the call.
inline outrigger_response_view makeResponse() noexcept {
  outrigger_response_view r;
  std::memset(&r, 0, sizeof r);
  r.hdr = OUTRIGGER_HEADER_INIT(outrigger_response_view);
  return r;
}
inline outrigger_response_view makeError(outrigger_code code, std::string_view message,
                                         bool retryable = false, uint32_t retry_after_ms = 0) noexcept {
  outrigger_response_view r = makeResponse();
  r.code = code;
  r.message = str(message);
  r.retryable = retryable ? 1 : 0;
  r.retry_after_ms = retry_after_ms;
  return r;
}
inline outrigger_chunk_view makeChunk(std::string_view delta) noexcept {
  outrigger_chunk_view c;
  std::memset(&c, 0, sizeof c);
  c.hdr = OUTRIGGER_HEADER_INIT(outrigger_chunk_view);
  c.delta = str(delta);
  return c;
}

// Writes an instance's figures for /metrics (Instance::reportMetrics). Names get the
// "outrigger_" prefix and the label plugin_instance="<name>" from the host; keep series bounded.
class MetricsWriter {
 public:
  using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;
  explicit MetricsWriter(const outrigger_metrics_writer* w) noexcept : w_(w) {}
  void gauge(std::string_view name, std::string_view help, Labels labels, double value) const noexcept {
    write(OUTRIGGER_METRIC_GAUGE, name, help, labels, value);
  }
  void counter(std::string_view name, std::string_view help, Labels labels, double value) const noexcept {
    write(OUTRIGGER_METRIC_COUNTER, name, help, labels, value);
  }

 private:
  void write(outrigger_metric_type type, std::string_view name, std::string_view help, Labels labels,
             double value) const noexcept {
    outrigger_attribute attrs[8] = {};
    size_t n = 0;
    for (const auto& [k, v] : labels) {
      if (n == 8) break;
      attrs[n++] = {str(k), str(v)};
    }
    w_->sample(w_->ctx, type, str(name), str(help), attrs, n, value);
  }
  const outrigger_metrics_writer* w_;
};

// Common base of every instance.
class Instance {
 public:
  Instance(Host host, std::string_view name) : host_(host), name_(name) {}
  virtual ~Instance() = default;
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  const Host& host() const noexcept { return host_; }
  const std::string& name() const noexcept { return name_; }
  // [main] ABI 1.2: the instance's own figures for /metrics, written while it serves on its
  // loops (synchronise). Not overridden: none.
  virtual void reportMetrics(const MetricsWriter&) {}
  bool poisoned() const noexcept { return poisoned_.load(std::memory_order_relaxed); }

  void poison(const char* what) noexcept {
    if (!poisoned_.exchange(true)) {
      char line[600];
      std::snprintf(line, sizeof line, "plugin threw, instance disabled: %s", what);
      host_.log(OUTRIGGER_LOG_ERROR, line);
    }
  }

 private:
  Host host_;
  std::string name_;
  std::atomic<bool> poisoned_{false};
};

class Provider : public Instance {
 public:
  static constexpr outrigger_kind kKind = OUTRIGGER_KIND_PROVIDER;
  using Instance::Instance;
  // Must return OUTRIGGER_PENDING and call host().providerDone exactly once.
  virtual outrigger_status start(const outrigger_request_view& request) = 0;
  virtual void cancel(outrigger_request request) = 0;
  virtual void resume(outrigger_request request) {}
  // Optional: return OUTRIGGER_PENDING and call host().embeddingsDone exactly once. The default
  // tells the host this provider cannot embed (the caller gets UNIMPLEMENTED).
  virtual outrigger_status embed(const outrigger_embed_request_view& request) {
    (void)request;
    return OUTRIGGER_E_UNSUPPORTED;
  }
};

class Guardrail : public Instance {
 public:
  static constexpr outrigger_kind kKind = OUTRIGGER_KIND_GUARDRAIL;
  using Instance::Instance;
  virtual outrigger_status onRequest(const outrigger_request_view&, outrigger_guardrail_result&) {
    return OUTRIGGER_CONTINUE;
  }
  // Not overridden: the hook is left out of the table, so a route with no guardrail that sees
  // chunks streams them straight through (the same for onStreamEnd).
  virtual outrigger_status onChunk(const outrigger_request_view&, const outrigger_chunk_view&,
                                   outrigger_guardrail_result&) {
    return OUTRIGGER_CONTINUE;
  }
  virtual outrigger_status onResponse(const outrigger_request_view&, const outrigger_response_view&,
                                      outrigger_guardrail_result&) {
    return OUTRIGGER_CONTINUE;
  }
  virtual void onCancel(outrigger_request) {}
  // ABI minor 2: the stream ended; decide on what this guardrail holds (default: release it).
  virtual outrigger_status onStreamEnd(const outrigger_request_view&, outrigger_guardrail_result&) {
    return OUTRIGGER_CONTINUE;
  }
  // ABI minor 2: the stream starts over (a retry, fallback or re-ask); forget its earlier chunks.
  virtual void onStreamRestart(const outrigger_request_view&) {}
};

class Cache : public Instance {
 public:
  static constexpr outrigger_kind kKind = OUTRIGGER_KIND_CACHE;
  using Instance::Instance;
  virtual outrigger_status lookup(const outrigger_request_view& request) = 0;
  virtual void store(const outrigger_request_view& request, const outrigger_response_view& response) = 0;
  virtual void onCancel(outrigger_request) {}
};

// ABI minor 2. Admits a request before its caches and provider, and settles each attempt.
class Limiter : public Instance {
 public:
  static constexpr outrigger_kind kKind = OUTRIGGER_KIND_LIMITER;
  using Instance::Instance;
  // CONTINUE admits; STOP refuses with `result`; PENDING: host().limiterDone follows.
  virtual outrigger_status admit(const outrigger_request_view& request, const outrigger_limit_estimate& estimate,
                                 outrigger_limit_result& result) = 0;
  virtual void settle(const outrigger_request_view& request, const outrigger_settlement& settlement) = 0;
  virtual void onCancel(outrigger_request) {}
};

class Exporter : public Instance {
 public:
  static constexpr outrigger_kind kKind = OUTRIGGER_KIND_EXPORTER;
  using Instance::Instance;
  virtual outrigger_status exportRecord(const outrigger_record_view& record) = 0;
  virtual outrigger_status flush() { return OUTRIGGER_OK; }
  // ABI 1.2: a score for an earlier answer. Not overridden: feedback is not wanted.
  virtual outrigger_status exportFeedback(const outrigger_feedback_view&) { return OUTRIGGER_E_UNSUPPORTED; }
};

namespace detail {

template <class F>
outrigger_status guarded(void* instance, F&& f) noexcept {
  auto* self = static_cast<Instance*>(instance);
  if (self->poisoned()) return OUTRIGGER_E_PLUGIN_EXCEPTION;
  try {
    return f();
  } catch (const std::exception& e) {
    self->poison(e.what());
  } catch (...) {
    self->poison("unknown exception");
  }
  return OUTRIGGER_E_PLUGIN_EXCEPTION;
}

template <class F>
void guardedVoid(void* instance, F&& f) noexcept {
  (void)guarded(instance, [&] { f(); return OUTRIGGER_OK; });
}

template <class T>
T* self(void* instance) noexcept { return static_cast<T*>(static_cast<Instance*>(instance)); }

template <class T>
outrigger_status create(const outrigger_host_api* host, outrigger_str name, outrigger_str config,
                        void** out, outrigger_error* error) noexcept {
  try {
    Instance* inst = new T(Host(host), view(name), view(config));
    *out = inst;
    return OUTRIGGER_OK;
  } catch (const std::exception& e) {
    std::snprintf(error->message, sizeof error->message, "%s", e.what());
  } catch (...) {
    std::snprintf(error->message, sizeof error->message, "unknown exception in create");
  }
  return OUTRIGGER_E_INVALID;
}

inline void destroy(void* instance) noexcept { delete static_cast<Instance*>(instance); }

inline void reportMetrics(void* instance, const outrigger_metrics_writer* writer) noexcept {
  guardedVoid(instance, [&] { static_cast<Instance*>(instance)->reportMetrics(MetricsWriter(writer)); });
}

template <class Base, class T> struct Hooks;

template <class T> struct Hooks<Provider, T> {
  static const void* table() {
    static const outrigger_provider_hooks hooks = {
        OUTRIGGER_HEADER_INIT(outrigger_provider_hooks),
        [](void* i, const outrigger_request_view* r) noexcept {
          return guarded(i, [&] { return self<T>(i)->start(*r); });
        },
        [](void* i, outrigger_request r) noexcept { guardedVoid(i, [&] { self<T>(i)->cancel(r); }); },
        [](void* i, outrigger_request r) noexcept { guardedVoid(i, [&] { self<T>(i)->resume(r); }); },
        [](void* i, const outrigger_embed_request_view* r) noexcept {
          return guarded(i, [&] { return self<T>(i)->embed(*r); });
        },
    };
    return &hooks;
  }
};

template <class T> struct Hooks<Guardrail, T> {
  // The stream hooks of a class that does not override them stay NULL: the host then streams a
  // route's chunks straight through instead of offering each to a hook that passes it.
  static constexpr bool kSeesChunks = !std::is_same_v<decltype(&T::onChunk), decltype(&Guardrail::onChunk)>;
  static constexpr bool kSeesStreamEnd =
      !std::is_same_v<decltype(&T::onStreamEnd), decltype(&Guardrail::onStreamEnd)>;

  static const void* table() {
    using OnChunk = decltype(outrigger_guardrail_hooks::on_chunk);
    using OnStreamEnd = decltype(outrigger_guardrail_hooks::on_stream_end);
    static const outrigger_guardrail_hooks hooks = {
        OUTRIGGER_HEADER_INIT(outrigger_guardrail_hooks),
        [](void* i, const outrigger_request_view* r, outrigger_guardrail_result* res) noexcept {
          return guarded(i, [&] { return self<T>(i)->onRequest(*r, *res); });
        },
        kSeesChunks ? OnChunk([](void* i, const outrigger_request_view* r, const outrigger_chunk_view* c,
                                 outrigger_guardrail_result* res) noexcept {
          return guarded(i, [&] { return self<T>(i)->onChunk(*r, *c, *res); });
        })
                    : OnChunk(nullptr),
        [](void* i, const outrigger_request_view* r, const outrigger_response_view* resp,
           outrigger_guardrail_result* res) noexcept {
          return guarded(i, [&] { return self<T>(i)->onResponse(*r, *resp, *res); });
        },
        [](void* i, outrigger_request r) noexcept { guardedVoid(i, [&] { self<T>(i)->onCancel(r); }); },
        kSeesStreamEnd ? OnStreamEnd([](void* i, const outrigger_request_view* r, outrigger_guardrail_result* res) noexcept {
          return guarded(i, [&] { return self<T>(i)->onStreamEnd(*r, *res); });
        })
                       : OnStreamEnd(nullptr),
        [](void* i, const outrigger_request_view* r) noexcept {
          guardedVoid(i, [&] { self<T>(i)->onStreamRestart(*r); });
        },
    };
    return &hooks;
  }
};

template <class T> struct Hooks<Cache, T> {
  static const void* table() {
    static const outrigger_cache_hooks hooks = {
        OUTRIGGER_HEADER_INIT(outrigger_cache_hooks),
        [](void* i, const outrigger_request_view* r) noexcept {
          return guarded(i, [&] { return self<T>(i)->lookup(*r); });
        },
        [](void* i, const outrigger_request_view* r, const outrigger_response_view* resp) noexcept {
          guardedVoid(i, [&] { self<T>(i)->store(*r, *resp); });
        },
        [](void* i, outrigger_request r) noexcept { guardedVoid(i, [&] { self<T>(i)->onCancel(r); }); },
    };
    return &hooks;
  }
};

template <class T> struct Hooks<Limiter, T> {
  static const void* table() {
    static const outrigger_limiter_hooks hooks = {
        OUTRIGGER_HEADER_INIT(outrigger_limiter_hooks),
        [](void* i, const outrigger_request_view* r, const outrigger_limit_estimate* e,
           outrigger_limit_result* res) noexcept { return guarded(i, [&] { return self<T>(i)->admit(*r, *e, *res); }); },
        [](void* i, const outrigger_request_view* r, const outrigger_settlement* s) noexcept {
          guardedVoid(i, [&] { self<T>(i)->settle(*r, *s); });
        },
        [](void* i, outrigger_request r) noexcept { guardedVoid(i, [&] { self<T>(i)->onCancel(r); }); },
    };
    return &hooks;
  }
};

template <class T> struct Hooks<Exporter, T> {
  static const void* table() {
    static const outrigger_exporter_hooks hooks = {
        OUTRIGGER_HEADER_INIT(outrigger_exporter_hooks),
        [](void* i, const outrigger_record_view* r) noexcept {
          return guarded(i, [&] { return self<T>(i)->exportRecord(*r); });
        },
        [](void* i) noexcept { return guarded(i, [&] { return self<T>(i)->flush(); }); },
        [](void* i, const outrigger_feedback_view* f) noexcept {
          return guarded(i, [&] { return self<T>(i)->exportFeedback(*f); });
        },
    };
    return &hooks;
  }
};

template <class T> constexpr outrigger_stability stabilityOf() {
  if constexpr (requires { T::kStability; }) return T::kStability;
  else return OUTRIGGER_STABILITY_EXPERIMENTAL;
}
template <class T> constexpr uint64_t capabilitiesOf() {
  if constexpr (requires { T::kCapabilities; }) return T::kCapabilities;
  else return 0;
}

Provider* baseOf(Provider*);
Guardrail* baseOf(Guardrail*);
Cache* baseOf(Cache*);
Limiter* baseOf(Limiter*);
Exporter* baseOf(Exporter*);

}  // namespace detail

// The C type table for class T. T::kName etc. must be string literals (static storage).
template <class T>
const outrigger_plugin_type* typeOf() {
  using Base = std::remove_pointer_t<decltype(detail::baseOf(static_cast<T*>(nullptr)))>;
  static const outrigger_plugin_type type = {
      OUTRIGGER_HEADER_INIT(outrigger_plugin_type),
      T::kKind,
      detail::stabilityOf<T>(),
      str(T::kName),
      str(T::kDescription),
      str(T::kConfigSchema),
      detail::capabilitiesOf<T>(),
      &detail::create<T>,
      &detail::destroy,
      detail::Hooks<Base, T>::table(),
      &detail::reportMetrics,
  };
  return &type;
}

}  // namespace outrigger::plugin

// Defines the library's entry symbol. Usage:
//   OUTRIGGER_PLUGIN("provider_mock", "1.0.0", outrigger::plugin::typeOf<MockProvider>())
#define OUTRIGGER_PLUGIN(LIBRARY, VERSION, ...)                                               \
  extern "C" OUTRIGGER_EXPORT const outrigger_plugin_entry* outrigger_plugin_entry_v1(void) { \
    static const outrigger_plugin_type* const types[] = {__VA_ARGS__};                        \
    static const outrigger_plugin_entry entry = {                                             \
        OUTRIGGER_HEADER_INIT(outrigger_plugin_entry),                                        \
        {LIBRARY, sizeof(LIBRARY) - 1},                                                       \
        {VERSION, sizeof(VERSION) - 1},                                                       \
        types,                                                                                \
        sizeof(types) / sizeof(types[0])};                                                    \
    return &entry;                                                                            \
  }

#endif  // OUTRIGGER_PLUGIN_HPP
