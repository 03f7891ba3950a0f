// Small builders for C++ SDK calls in the integration tests.
#pragma once

#include <string>

#include <outrigger/client.h>

#include "support/daemon_process.h"

namespace outrigger::testing {

// A one-message request on the default route; `mock_json` steers the mock provider.
inline client::ChatRequest ask(const std::string& text, const std::string& mock_json = "") {
  client::ChatRequest r;
  r.model = "default";
  r.messages.push_back({"user", text, "", "", {}});
  if (!mock_json.empty()) r.extra_json = R"({"mock": )" + mock_json + "}";
  return r;
}

// Client options for the daemon's socket.
inline client::Client::Options at(const DaemonProcess& d) {
  client::Client::Options o;
  o.socket_path = d.socket();
  return o;
}

}  // namespace outrigger::testing
