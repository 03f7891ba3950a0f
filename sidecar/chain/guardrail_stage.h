// The guardrail stage kinds: a guardrail's on_request before the cache and provider, its
// on_response after them, and its on_chunk on every chunk of a streamed answer.
#pragma once

#include <outrigger/plugin.h>

#include "chain/stage_kind.h"

namespace outrigger::chain {

class RequestContext;

struct GuardrailStage {
  static const StageHooks kOnRequest;
  static const StageHooks kOnResponse;

  // Every guardrail with an on_chunk hook sees `chunk` before the client does. False when one
  // stopped the stream (the request has ended).
  static bool allowChunk(RequestContext& ctx, const outrigger_chunk_view& chunk);
  // A PASS, FLAG or DENY, from the hook's return or from guardrail_done. False when it denied.
  static bool applyVerdict(RequestContext& ctx, const Stage& stage, const outrigger_guardrail_result& result,
                           outrigger_status rc);
};

}  // namespace outrigger::chain
