// What an eval sends its requests through: a running sidecar's socket (SocketBackend), or the
// chain built in this process from a config (InProcessBackend, in_process_backend.h).
// Thread-safety: chat() is called from many runner threads at once.
#pragma once

#include "outrigger/client.h"

namespace outrigger::eval {

class ChatBackend {
 public:
  virtual ~ChatBackend() = default;
  // Blocks until the answer, an error, or the request's deadline.
  virtual client::Result<client::Response> chat(const client::ChatRequest& request) = 0;
};

class SocketBackend : public ChatBackend {
 public:
  explicit SocketBackend(client::Client* client) : client_(client) {}
  client::Result<client::Response> chat(const client::ChatRequest& request) override { return client_->chat(request); }

 private:
  client::Client* client_;
};

}  // namespace outrigger::eval
