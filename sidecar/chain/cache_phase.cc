// The cache stages of a request: lookups in route order, the answer of a hit (replayed in
// chunks to a streaming caller), and the store of a provider's answer in every cache.
#include "chain/call_hook.h"
#include "chain/request_context.h"
#include "common/utf8.h"

namespace outrigger::chain {

// Each cache in route order until one hits (cacheDone moves on to the answer).
bool RequestContext::runCacheLookup() {
  if (view_.cache_bypass || stage_index_ >= route_->cache.size()) {
    phase_ = Phase::kProvider;
    stage_index_ = 0;
    return true;
  }
  const Stage& stage = route_->cache[stage_index_++];
  waiting_ = Waiting::kCache;
  waiting_stage_ = &stage;
  outrigger_status rc = callHook(stage, "cache.lookup", [&] {
    return stage.instance->cache()->lookup(stage.instance->handle(), &view_);
  });
  if (rc == OUTRIGGER_PENDING) return completed_in_hook_;
  waiting_ = Waiting::kNothing;
  if (rc < 0) return stageFailed(stage, rc, "cache lookup");
  closeSpan("miss");
  return true;
}

outrigger_status RequestContext::cacheDone(plugin::PluginInstance* inst, const outrigger_response_view* hit) {
  if (waiting_ != Waiting::kCache || waiting_stage_->instance.get() != inst) return OUTRIGGER_E_INVALID;
  waiting_ = Waiting::kNothing;
  if (hit && hit->code == OUTRIGGER_CODE_OK) {
    closeSpan("hit");
    from_cache_ = true;
    copyFinal(*hit);
    if (view_.stream) replayChunks();
    phase_ = Phase::kGuardOut;
    stage_index_ = 0;
  } else {
    closeSpan("miss");
  }
  if (in_hook_) completed_in_hook_ = true;
  else advance();
  return OUTRIGGER_OK;
}

// A cached answer to a streaming request goes out as a stream would (chunks of the route's
// replay size, cut between code points), not as one chunk.
void RequestContext::replayChunks() {
  std::string_view rest = content_;
  do {
    std::string_view piece = utf8Prefix(rest, route_->cache_replay_chunk_bytes);
    rest.remove_prefix(piece.size());
    sendChunk(piece, nullptr);
  } while (!rest.empty() && sink_);
}

void RequestContext::runCacheStore() {
  if (route_->cache.empty() || from_cache_ || view_.cache_bypass || view_.cache_no_store ||
      provider_code_ != Code::kOk) {
    return;
  }
  std::vector<outrigger_tool_call_view> calls;
  outrigger_response_view resp = answerView(&calls);
  for (const Stage& stage : route_->cache) {
    callHook(stage, "cache.store", [&] {
      stage.instance->cache()->store(stage.instance->handle(), &view_, &resp);
      return OUTRIGGER_OK;
    });
    closeSpan("stored");
  }
}

}  // namespace outrigger::chain
