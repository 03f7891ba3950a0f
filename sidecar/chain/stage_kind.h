// The stage kinds a route's pipeline is built from, and the hook table each registers once.
//
// A route is an ordered list of steps (Route::steps): request guardrails, limiter admits, cache
// lookups, the provider, response guardrails, cache stores. RequestContext runs them one after the other with
// the plumbing every kind shares (pending/done, cancel of the pending plugin, one span per hook
// call, the on_error policy, stale and double completions); a kind only says how to call its
// plugin and what its result means. Adding a kind is one enum entry, one StageHooks table and
// one line where chain.cc lays out a route's steps.
#pragma once

#include <cstdint>

#include <outrigger/plugin.h>

namespace outrigger::chain {

struct Stage;
class RequestContext;

enum class StageKind : uint8_t {
  kRequestGuardrail,   // guardrail.on_request: PASS / FLAG / REWRITE / DENY, or PENDING
  kLimiterAdmit,       // limiter.admit: CONTINUE / REFUSE, or PENDING; settled per attempt
  kCacheLookup,        // cache.lookup: a hit answers now and skips to the response steps
  kProvider,           // the attempt planner's targets (resilience lives in ProviderStage)
  kResponseGuardrail,  // guardrail.on_response
  kCacheStore,         // cache.store: never pending
};

// One step of a route's pipeline. `stage` is null for the provider step (its targets are the
// route's).
struct Step {
  StageKind kind;
  const Stage* stage = nullptr;
};

// How a stage kind calls its plugin. Every function runs on the request's loop thread.
struct StageHooks {
  const char* span;  // the span's stage name, also used in error messages: "guardrail.request"
  // False when this request skips the step: the plugin lacks the hook, the request bypasses the
  // cache, nothing was answered to store, ...
  bool (*applies)(const RequestContext& ctx, const Stage& stage);
  // Calls the plugin's hook. A result given at once is kept in the context for `apply`.
  outrigger_status (*call)(RequestContext& ctx, const Stage& stage);
  // Applies a result the hook returned at once (rc >= 0, not PENDING). False when the request
  // ended or moved on to another step.
  bool (*apply)(RequestContext& ctx, const Stage& stage, outrigger_status rc);
  // The request ended while this stage's hook was pending: tell the plugin (may be null).
  void (*cancel)(const Stage& stage, outrigger_request handle);
  // Optional: true when the request waits before the hook is called (it queued behind others
  // and runs this step again when woken).
  bool (*waits)(RequestContext& ctx, const Stage& stage) = nullptr;
};

// The hook table of `kind`; not for kProvider, which runs its own attempts.
const StageHooks& stageHooks(StageKind kind);

}  // namespace outrigger::chain
