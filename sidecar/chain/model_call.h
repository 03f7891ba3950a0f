// A model call a plugin made through the host (ABI 1.2 complete/embed): the child request's sink.
// The child runs on the caller's engine and loop like any in-process request; its end reaches
// the plugin's callback exactly once and closes the caller's span for the call.
#pragma once

#include <cstddef>

#include <outrigger/plugin.h>

#include "api/response_sink.h"

namespace outrigger::chain {

class RequestContext;

class ModelCall final : public ResponseSink {
 public:
  // One of `complete` / `embed` is set; `span` indexes the caller's spans.
  ModelCall(RequestContext& caller, size_t span, outrigger_complete_callback complete, outrigger_embed_callback embed,
            void* user_data)
      : caller_(caller), span_(span), complete_(complete), embed_(embed), user_data_(user_data) {}

  void onStart(uint64_t, const ResponseStartInfo&) override {}
  Flow onChunk(uint64_t, const ResponseChunkInfo&) override { return Flow::kOk; }  // unary only
  void onEnd(uint64_t stream_id, const ResponseEndInfo& end) override;

  bool ended() const { return ended_; }
  void setChild(outrigger_request child) { child_ = child; }
  outrigger_request child() const { return child_; }

 private:
  void callComplete(const ResponseEndInfo& end);
  void callEmbed(const ResponseEndInfo& end);

  RequestContext& caller_;
  size_t span_;
  outrigger_complete_callback complete_;
  outrigger_embed_callback embed_;
  void* user_data_;
  outrigger_request child_{};
  bool ended_ = false;
};

}  // namespace outrigger::chain
