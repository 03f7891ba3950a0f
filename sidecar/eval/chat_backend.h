// What an eval sends its requests through: a running sidecar's socket (SocketBackend), or the
// chain built in this process from a config (InProcessBackend, in_process_backend.h).
// Thread-safety: chat() is called from many runner threads at once.
#pragma once

#include "outrigger/client.h"

namespace outrigger::eval {

// A case's OpenAI `tools` and `response_format`, as JSON text ("" when absent). The socket SDK's
// ChatRequest has no fields for them, so over a socket they travel only in extra_json, which
// providers do not forward under these names; the in-process chain takes them as parameters.
struct CaseParams {
  std::string tools_json, response_format_json;
  bool empty() const { return tools_json.empty() && response_format_json.empty(); }
};

class ChatBackend {
 public:
  virtual ~ChatBackend() = default;
  // Blocks until the answer, an error, or the request's deadline.
  virtual client::Result<client::Response> chat(const client::ChatRequest& request, const CaseParams& params) = 0;
  // Whether chat() sends CaseParams to the model.
  virtual bool sendsCaseParams() const = 0;
};

class SocketBackend : public ChatBackend {
 public:
  explicit SocketBackend(client::Client* client) : client_(client) {}
  client::Result<client::Response> chat(const client::ChatRequest& request, const CaseParams&) override {
    return client_->chat(request);
  }
  bool sendsCaseParams() const override { return false; }

 private:
  client::Client* client_;
};

}  // namespace outrigger::eval
