#include "chain/stage_kind.h"

#include <cstdlib>

#include "chain/cache_stage.h"
#include "chain/guardrail_stage.h"
#include "chain/limiter_stage.h"

namespace outrigger::chain {

const StageHooks& stageHooks(StageKind kind) {
  switch (kind) {
    case StageKind::kRequestGuardrail: return GuardrailStage::kOnRequest;
    case StageKind::kLimiterAdmit: return LimiterStage::kAdmit;
    case StageKind::kCacheLookup: return CacheStage::kLookup;
    case StageKind::kResponseGuardrail: return GuardrailStage::kOnResponse;
    case StageKind::kCacheStore: return CacheStage::kStore;
    case StageKind::kProvider: break;  // runs its own attempts (ProviderStage)
  }
  std::abort();
}

}  // namespace outrigger::chain
