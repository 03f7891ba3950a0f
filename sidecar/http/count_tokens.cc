#include "http/count_tokens.h"

#include <memory_resource>

#include "chain/request_views.h"
#include "outrigger_generated.h"

#ifdef OUTRIGGER_WITH_TOKENIZER
#include "bpe_encoding.h"
#include "chat_tokens.h"
#include "model_limits.h"
#endif

namespace outrigger::http {

namespace {

// The model a request on `route` calls first, as the chain chooses it: the first target's, else
// the route's, else the caller's.
std::string calledModel(const ChatCall& call, const chain::Route* route) {
  if (route && !route->targets.empty() && !route->targets[0].model.empty()) return route->targets[0].model;
  if (route && !route->model.empty()) return route->model;
  return call.model;
}

}  // namespace

TokenCount countPromptTokens(const ChatCall& call, const chain::Route* route) {
  TokenCount out;
  out.model = calledModel(call, route);
#ifdef OUTRIGGER_WITH_TOKENIZER
  std::string_view name = tokens::encodingForModel(out.model);
  const tokens::BpeEncoding* enc = name.empty() ? nullptr : tokens::BpeEncoding::byName(name);
  if (!enc || !call.request) return out;
  std::pmr::monotonic_buffer_resource arena;
  chain::RequestViews views = chain::viewsOf(*call.request, &arena);
  outrigger_request_view view{};
  view.hdr = OUTRIGGER_HEADER_INIT(outrigger_request_view);
  view.model = {out.model.data(), out.model.size()};
  view.messages = views.messages;
  view.message_count = views.message_count;
  view.params = &views.params;
  view.metadata = &views.metadata;
  out.input_tokens = tokens::countPrompt(*enc, view).total;
  out.known = true;
#endif
  return out;
}

}  // namespace outrigger::http
