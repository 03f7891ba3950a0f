// The end of a request: cancels that reach whichever plugin is busy, plugin timers, the deadline,
// and end() — the one place a request finishes (exactly one end on its stream, transfers and
// timers closed, the finished record handed to the exporters).
#include <algorithm>
#include <cstring>

#include "chain/limiter_stage.h"
#include "chain/plugin_text.h"
#include "chain/request_context.h"
#include "common/clock.h"
#include "common/log.h"
#include "http_client/http_client.h"
#include "plugin/str_view.h"
#include "telemetry/record_content.h"

namespace outrigger::chain {

void RequestContext::notifyPendingCancel() {
  if (!pending_.stage) return;
  Pending p = pending_;
  pending_ = {};
  if (p.kind == StageKind::kProvider) {
    attempt_cut_short_ = true;  // end() settles it, CANCELLED, with its target
    return provider_.cancelPending(*p.stage);
  }
  closeSpan("cancelled");
  if (auto cancel = stageHooks(p.kind).cancel) cancel(*p.stage, handle_);
}

void RequestContext::cancelWith(Code code, std::string_view message, std::string_view origin) {
  if (ended_) return;
  std::string msg(message), org(origin);
  notifyPendingCancel();
  // A server going away is worth retrying elsewhere, unless a provider already saw the request
  // (a retry could run it twice: a tool call, a charge); a cancel, deadline or deny is not.
  end(code, msg, org, /*retryable=*/code == Code::kUnavailable && !reached_provider_);
}

void RequestContext::resume() {
  if (!paused_ || ended_) return;
  paused_ = false;
  if (stream_guard_ && stream_guard_->holdsProvider()) return;  // the guardrail's decision resumes it
  if (pending_.stage && pending_.kind == StageKind::kProvider) provider_.resume(*pending_.stage);
}

void RequestContext::onDeadline(uv_timer_t* t) {
  auto* self = static_cast<RequestContext*>(t->data);
  const Stage* waiting = self->stream_guard_ ? self->stream_guard_->waitingGuardrail() : nullptr;
  if (!waiting) waiting = self->pending_.stage;
  std::string origin = waiting ? waiting->origin : "deadline";
  self->cancelWith(Code::kDeadlineExceeded, "deadline exceeded", origin);
}

outrigger_status RequestContext::setTimer(uint32_t delay_ms, outrigger_callback fn, void* user_data) {
  if (ended_) return OUTRIGGER_E_STALE;
  auto* pt = new PluginTimer{{}, this, fn, user_data};
  uv_timer_init(engine_.loop().loop(), &pt->timer);
  pt->timer.data = pt;
  // libuv counts from the loop's time, taken when this iteration began: refreshed, a wait such as
  // an upstream's retry-after is never cut short by the work done since.
  uv_update_time(engine_.loop().loop());
  uv_timer_start(&pt->timer, &RequestContext::onPluginTimer, delay_ms, 0);
  plugin_timers_.push_back(pt);
  ++open_handles_;
  return OUTRIGGER_OK;
}

namespace {
void closeAndMaybeFree(uv_handle_t* h);
}

void RequestContext::onPluginTimer(uv_timer_t* t) {
  auto* pt = static_cast<PluginTimer*>(t->data);
  RequestContext* self = pt->owner;
  auto& timers = self->plugin_timers_;
  for (auto it = timers.begin(); it != timers.end(); ++it) {
    if (*it == pt) {
      timers.erase(it);
      break;
    }
  }
  outrigger_callback fn = pt->fn;
  void* ud = pt->user_data;
  pt->fn = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&pt->timer), closeAndMaybeFree);
  fn(ud, OUTRIGGER_OK);
}

namespace {
// Frees a plugin timer, and the request once its last handle has closed.
void closeAndMaybeFree(uv_handle_t* h) {
  auto* pt = static_cast<RequestContext::PluginTimer*>(h->data);
  RequestContext* owner = pt->owner;
  delete pt;
  owner->handleClosed();
}
}  // namespace

void RequestContext::closeTimers() {
  uv_timer_stop(&deadline_timer_);
  // Every timer a plugin set learns the request is gone, so it can free its user data.
  std::vector<PluginTimer*> timers;
  timers.swap(plugin_timers_);
  for (PluginTimer* pt : timers) {
    outrigger_callback fn = pt->fn;
    pt->fn = nullptr;
    uv_timer_stop(&pt->timer);
    uv_close(reinterpret_cast<uv_handle_t*>(&pt->timer), closeAndMaybeFree);
    if (fn) fn(pt->user_data, OUTRIGGER_E_STALE);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&deadline_timer_), [](uv_handle_t* h) {
    static_cast<RequestContext*>(h->data)->handleClosed();
  });
}

void RequestContext::handleClosed() {
  if (--open_handles_ == 0) delete this;
}

void RequestContext::end(Code code, std::string_view message, std::string_view origin, bool retryable,
                         uint32_t retry_after_ms) {
  if (ended_) return;
  ended_ = true;
  cancelModelCalls();  // children end first: their spans close in this request's record
  // The current attempt, cut short by this end (its cancel may have gone out already).
  bool attempt_running = attempt_cut_short_ || (pending_.stage && pending_.kind == StageKind::kProvider);
  pending_ = {};
  std::string msg = repairedText(message), org(origin);  // plugins' words included: callers' JSON needs UTF-8
  // Outbound transfers die with their request, whatever ended it (cancel, deadline, shutdown).
  if (auto* http = engine_.httpClient()) http->abortOwnedBy(handle_);
  // Answers a re-ask set aside were paid for too.
  usage_ += set_aside_usage_;
  cost_usd_ += set_aside_cost_usd_;
  provider_.onRequestEnd(attempt_running, msg);
  limiter_wait_.requestEnded(msg);
  if (stream_guard_) stream_guard_->requestEnded();  // a pending guardrail learns; held bytes go
  LimiterStage::settleUnused(*this, code);
  if (sink_) {
    ResponseEndInfo info;
    info.code = code;
    info.retryable = retryable;
    info.reached_provider = reached_provider_;
    info.retries_spent = provider_.retriesSpent();
    info.retry_after_ms = retry_after_ms;
    info.origin = org;
    info.message = msg;
    if (code == Code::kOk && !view_.stream) info.content = content_;
    info.finish_reason = code == Code::kOk ? std::string_view(finish_reason_) : std::string_view();
    info.tool_calls = code == Code::kOk ? &tool_calls_ : nullptr;
    info.usage = usage_;
    info.cost_usd = cost_usd_;
    info.cache_hit = from_cache_;
    info.trace_id = trace_id_;
    info.verdicts = &verdicts_;
    info.model = answer_model_.empty() ? std::string_view(model_) : std::string_view(answer_model_);
    if (embed_ && code == Code::kOk) info.embeddings = &embeddings_;
    if (code != Code::kOk && code == provider_code_ && org == provider_.stage().origin) {
      info.upstream_error_type = provider_error_type_;  // the failure is the provider's own
      info.upstream_error_code = provider_error_code_;
    }
    if (code == Code::kOk) {
      info.refusal = answer_meta_.refusal;
      info.system_fingerprint = answer_meta_.system_fingerprint;
      info.service_tier = answer_meta_.service_tier;
    }
    ResponseSink* sink = sink_;
    sink_ = nullptr;
    sink->onEnd(stream_id_, info);
  }
  if (code == Code::kOk) engine_.counters().finished.fetch_add(1, std::memory_order_relaxed);
  else engine_.counters().failed.fetch_add(1, std::memory_order_relaxed);
  uint64_t ended_ns = monoNowNs();
  engine_.requestMeter().record({route_ ? std::string_view(route_->name) : std::string_view("none"), tenantLabel(), code,
                                 double(ended_ns - start_ns_) / 1e9,
                                 view_.stream && first_chunk_ns_ ? double(first_chunk_ns_ - start_ns_) / 1e9 : 0.0,
                                 &spans_, &verdicts_});
  submitRecord(code, msg, org);
  engine_.release(this);
  releasePluginStates();  // after the end went out: a release may free what the views used
  // Capacity freed: a target's slot or tokens (above), a limiter's at its release.
  engine_.wakeLimitQueues();
  closeTimers();
}

void RequestContext::submitRecord(Code code, std::string_view message, std::string_view origin) {
  telemetry::ExporterThread* exporter = engine_.exporter();
  if (!exporter || !route_ || route_->exporters.empty()) return;
  // Before building: at saturation most records would be dropped. One whose request began with
  // the queue full has no trace attributes, so it is shed even if the queue has room now.
  if (!traced_) exporter->countShed();
  if (!traced_ || exporter->shedIfFull()) {
    engine_.counters().records_dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  auto r = std::make_shared<telemetry::RequestRecord>();
  r->chain = chain_;
  r->route = route_;
  r->trace_id = trace_id_;
  r->route_name = route_->name;
  r->provider = provider_.stage().instance->name();
  r->model = answer_model_.empty() ? model_ : answer_model_;
  r->metadata = {std::string(sv(views_.metadata.tenant)), std::string(sv(views_.metadata.user)),
                 std::string(sv(views_.metadata.session)), std::string(sv(views_.metadata.request_id)),
                 std::string(sv(views_.metadata.prompt_id)), std::string(sv(views_.metadata.prompt_version)),
                 std::string(sv(views_.metadata.traceparent)), {}};
  for (size_t i = 0; i < views_.metadata.tag_count; ++i) {
    r->metadata.tags.emplace_back(sv(views_.metadata.tags[i].key), sv(views_.metadata.tags[i].value));
  }
  r->start_unix_ns = start_wall_ns_;
  r->start_mono_ns = start_ns_;
  telemetry::CaptureLimits limits;
  // Past the last request-side guardrail (an embeddings request runs none), and none of them
  // failed and was skipped (on_error = "skip"): each has passed or rewritten the prompt, so what
  // it redacts is redacted.
  bool skipped = std::any_of(verdicts_.begin(), verdicts_.end(),
                             [](const Verdict& v) { return v.kind == VerdictKind::kSkipped; });
  limits.prompt_vetted =
      embed_ || (step_ > route_->guardrails.size() && !skipped) || route_->capture_denied_prompts;
  // A stream's content is what the client got; a unary answer only when it went out.
  limits.answer_shown = (code == Code::kOk || view_.stream) && !answer_withheld_;
  telemetry::captureContent(r.get(), route_->capture, view_.messages, view_.message_count, content_, tool_calls_,
                            limits);
  uint64_t now = monoNowNs();
  r->duration_ns = now - start_ns_;
  r->time_to_first_chunk_ns = first_chunk_ns_ ? first_chunk_ns_ - start_ns_ : 0;
  r->code = code;
  r->stream = view_.stream;
  r->cache_hit = from_cache_;
  r->origin = std::string(origin);
  r->message = std::string(message);
  r->finish_reason = finish_reason_;
  r->usage = usage_;
  r->cost_usd = cost_usd_;
  r->cost_unpriced = cost_unpriced_;
  r->spans = std::move(spans_);
  r->verdicts = verdicts_;
  if (!exporter->submit(std::move(r))) {
    engine_.counters().records_dropped.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace outrigger::chain
