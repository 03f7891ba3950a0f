// The guardrail stage kinds: a guardrail's on_request before the cache and provider, and its
// on_response after them. Its on_chunk and on_stream_end run in StreamGuard (stream_guard.h).
#pragma once

#include <string>
#include <string_view>

#include <outrigger/plugin.h>

#include "chain/stage_kind.h"
#include "common/status.h"

namespace outrigger::chain {

class RequestContext;

struct GuardrailStage {
  static const StageHooks kOnRequest;
  static const StageHooks kOnResponse;

  // A hook's decision, returned at once or through guardrail_done/_decided: PASS and FLAG go on,
  // DENY ends the request, REWRITE replaces the request's messages (`side` on_request) or the
  // answer (on_response), a re-ask runs the provider again (from the loop's next turn). False
  // when the request ended or waits for that re-ask.
  static bool decide(RequestContext& ctx, const Stage& stage, StageKind side, outrigger_status rc,
                     outrigger_verdict verdict, std::string_view reason, const outrigger_guardrail_action* action);

 private:
  static bool deny(RequestContext& ctx, const Stage& stage, const std::string& reason,
                   Code code = Code::kPermissionDenied);
  static Code denyCode(const outrigger_guardrail_action* action);
  static void rewriteAnswer(RequestContext& ctx, const outrigger_guardrail_action& action);
  static bool reask(RequestContext& ctx, const Stage& stage, const outrigger_guardrail_action& action,
                    const std::string& reason);
  static void onReaskTimer(void* user_data, outrigger_status status);
};

}  // namespace outrigger::chain
