// The chain built in this process from a config, as `outrigger serve` builds it, but with no
// socket: one event loop on its own thread runs the engine, and each chat() is given to it as
// an in-process request (chain::CallInput) with the same route, stages, deadline and single end
// as a socket request. Nothing is exported (no exporter thread): traces stay out of the store.
//
// Part of outrigger_core (it needs the chain); the rest of the eval only sees ChatBackend.
#pragma once

#include <memory>
#include <string>

#include "eval/chat_backend.h"

namespace outrigger::eval {

class InProcessBackend : public ChatBackend {
 public:
  // Loads `config_path` (empty: the embedded default config), builds its chain and starts the
  // loop; nullptr with `error` when the config or a plugin is refused.
  static std::unique_ptr<InProcessBackend> start(const std::string& config_path, std::string* error);
  ~InProcessBackend() override;

  client::Result<client::Response> chat(const client::ChatRequest& request, const CaseParams& params) override;

  class Impl;

 private:
  explicit InProcessBackend(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace outrigger::eval
