// What an eval sends its requests through: a running sidecar's socket (SocketBackend), or the
// chain built in this process from a config (InProcessBackend, in_process_backend.h).
// Thread-safety: chat() is called from many runner threads at once.
#pragma once

#include "outrigger/client.h"

namespace outrigger::eval {

// A case's OpenAI `tools` and `response_format`, as JSON text ("" when absent).
struct CaseParams {
  std::string tools_json, response_format_json;
  bool empty() const { return tools_json.empty() && response_format_json.empty(); }
};

// Puts them on the request as its tools and response format (case_params.cc).
void applyCaseParams(const CaseParams& params, client::ChatRequest* request);

class ChatBackend {
 public:
  virtual ~ChatBackend() = default;
  // Blocks until the answer, an error, or the request's deadline.
  virtual client::Result<client::Response> chat(const client::ChatRequest& request, const CaseParams& params) = 0;
};

class SocketBackend : public ChatBackend {
 public:
  explicit SocketBackend(client::Client* client) : client_(client) {}
  client::Result<client::Response> chat(const client::ChatRequest& request, const CaseParams& params) override {
    if (params.empty()) return client_->chat(request);
    client::ChatRequest with = request;
    applyCaseParams(params, &with);
    return client_->chat(with);
  }

 private:
  client::Client* client_;
};

}  // namespace outrigger::eval
