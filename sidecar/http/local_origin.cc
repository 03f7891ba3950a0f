#include "http/local_origin.h"

#include <arpa/inet.h>
#include <strings.h>

namespace outrigger::http {
namespace {

bool sameName(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

bool hostAllowed(std::string_view host, const std::vector<std::string>& allowed) {
  if (host.find('\0') != std::string_view::npos) return false;  // inet_pton would read up to it only
  if (host.empty() || host.front() == '[') return true;  // none given (HTTP/1.0), or an IPv6 literal
  if (size_t colon = host.rfind(':'); colon != std::string_view::npos) host = host.substr(0, colon);
  if (host.find('.') == std::string_view::npos) return true;
  in_addr v4;
  if (::inet_pton(AF_INET, std::string(host).c_str(), &v4) == 1) return true;
  for (const std::string& name : allowed) {
    if (sameName(host, name)) return true;
  }
  return false;
}

bool loopbackOrigin(std::string_view origin) {
  if (origin.find('\0') != std::string_view::npos) return false;
  if (origin.starts_with("http://")) origin.remove_prefix(7);
  else if (origin.starts_with("https://")) origin.remove_prefix(8);
  else return false;
  std::string_view host = origin;
  if (host.starts_with('[')) {
    size_t close = host.find(']');
    if (close == std::string_view::npos) return false;
    in6_addr v6;
    return ::inet_pton(AF_INET6, std::string(host.substr(1, close - 1)).c_str(), &v6) == 1 &&
           IN6_IS_ADDR_LOOPBACK(&v6) && (close + 1 == host.size() || host[close + 1] == ':');
  }
  if (size_t colon = host.find(':'); colon != std::string_view::npos) host = host.substr(0, colon);
  if (sameName(host, "localhost")) return true;
  in_addr v4;
  return ::inet_pton(AF_INET, std::string(host).c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

}  // namespace outrigger::http
