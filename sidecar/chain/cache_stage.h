// The cache stage kinds: lookups in route order before the provider (a hit answers and the
// request goes on with the response steps), and stores of a provider's answer after it.
#pragma once

#include "chain/stage_kind.h"

namespace outrigger::chain {

class RequestContext;

struct CacheStage {
  static const StageHooks kLookup;
  static const StageHooks kStore;

  // A hit's answer goes out as a stream would, in chunks of the route's replay size.
  static void replayChunks(RequestContext& ctx);
};

}  // namespace outrigger::chain
