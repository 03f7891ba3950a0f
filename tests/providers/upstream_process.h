// The fault-injecting upstream (tests/upstream/upstream.py) as a child process on a free
// loopback port, with blocking helpers to script it and read its request log.
#pragma once

#include <sys/types.h>

#include <string>

namespace outrigger::testing {

class UpstreamProcess {
 public:
  // `tls_cert`: a PEM file (certificate and key) to serve HTTPS instead of HTTP.
  explicit UpstreamProcess(const std::string& tls_cert = "");
  ~UpstreamProcess();
  UpstreamProcess(const UpstreamProcess&) = delete;
  UpstreamProcess& operator=(const UpstreamProcess&) = delete;

  bool ready() const { return port_ > 0; }
  int port() const { return port_; }
  // "http://127.0.0.1:<port>" (https with a certificate)
  std::string baseUrl() const;

  // Queues steps: `steps_json` is a JSON array of step objects (see upstream.py).
  bool script(const std::string& steps_json);
  bool reset();
  // The request log as JSON text.
  std::string log();

  // Blocking POST/GET on the upstream; the status, body in *out.
  long post(const std::string& path, const std::string& body, std::string* out = nullptr);
  long get(const std::string& path, std::string* out);

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  bool tls_ = false;
};

}  // namespace outrigger::testing
