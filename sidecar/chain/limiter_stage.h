// The limiter stage kind: each of a route's limiters admits the request (after the request
// guardrails, before the caches) and settles every provider attempt it admitted. Budgets, quotas
// and fleet-wide limits (Redis) are limiters; none of them lives in the core.
#pragma once

#include <string_view>

#include "api/response_sink.h"
#include "chain/stage_kind.h"

namespace outrigger::chain {

class RequestContext;

struct LimiterStage {
  static const StageHooks kAdmit;

  // One provider attempt ended: every limiter that admitted the request settles it.
  static void settle(RequestContext& ctx, std::string_view target, Code code, bool reached_upstream,
                     const Usage& usage, double cost_usd);
  // The request is ending: an admitted request that made no attempt settles once, empty.
  static void settleUnused(RequestContext& ctx, Code code);
  // Admit's outcome, at once or through limiter_done. False when it refused (the request ended).
  static bool decide(RequestContext& ctx, const Stage& stage, outrigger_code code, uint32_t retry_after_ms,
                     std::string_view reason);
  // What admit is told: the prompt's estimated size, the caller's completion cap, and the
  // request's worst-case cost over the route's targets from the chain's price table.
  static outrigger_limit_estimate estimateOf(RequestContext& ctx);
  // The most provider attempts a request of its route may be billed for (estimate.billed_attempts).
  static uint8_t billedAttempts(const RequestContext& ctx);
};

}  // namespace outrigger::chain
