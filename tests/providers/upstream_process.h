// The fault-injecting upstream (tests/upstream/upstream.py) as a child process on a free
// loopback port, with blocking helpers to script it and read its request log. The same runner
// starts the other test servers in tests/upstream (the forwarding proxy, the HTTP/2 upstream).
#pragma once

#include <sys/types.h>

#include <string>

namespace outrigger::testing {

class UpstreamProcess {
 public:
  // `tls_cert`: a PEM file (certificate and key) to serve HTTPS instead of HTTP. `script`: a
  // server in tests/upstream, run by `python` (Debian's own interpreter for servers that need
  // Debian's Python packages); each prints "PORT <n>" once listening.
  explicit UpstreamProcess(const std::string& tls_cert = "", const std::string& script = "upstream.py",
                           const std::string& python = "python3");
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
