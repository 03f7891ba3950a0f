// Who may talk to a loopback server from a browser. A page an attacker serves reaches
// 127.0.0.1 too: it can rebind its own DNS name there (DNS rebinding) and then read answers as
// its own origin, or post blind to another origin (a simple request needs no preflight). Both
// leave a trace a local client never does: the Host header names the attacker's domain, and the
// browser adds an Origin header naming the page.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace outrigger::http {

// Whether a Host header names the server as only a local client would: nothing (HTTP/1.0), an
// IP literal, a name of one label (localhost, a Kubernetes Service's short name: never one an
// attacker's DNS answers), or a name in `allowed` (any case).
bool hostAllowed(std::string_view host, const std::vector<std::string>& allowed);

// Whether an Origin header names a page on this machine: http(s)://localhost, 127.0.0.0/8 or
// [::1], any port. "null" (a sandboxed frame, a file) and every other origin are not.
bool loopbackOrigin(std::string_view origin);

}  // namespace outrigger::http
