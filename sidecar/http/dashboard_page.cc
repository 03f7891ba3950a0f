#include "http/dashboard_page.h"

#include <openssl/evp.h>

#include <vector>

#include "http/reply.h"

namespace outrigger::http {
namespace {

// 'sha256-<base64>' for a CSP source list.
std::string hashSource(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha256(), nullptr);
  std::vector<unsigned char> base64(4 * ((size + 2) / 3) + 1);
  int n = EVP_EncodeBlock(base64.data(), digest, static_cast<int>(size));
  return "'sha256-" + std::string(reinterpret_cast<const char*>(base64.data()), static_cast<size_t>(n)) + "'";
}

// The hashes of every element's text between `open` and `close` (tags without attributes, as the
// page writes them) outside HTML comments, space-separated.
std::string inlineHashes(std::string_view html, std::string_view open, std::string_view close) {
  std::string out;
  size_t at = 0;
  while ((at = html.find(open, at)) != std::string_view::npos) {
    size_t comment = html.rfind("<!--", at);
    if (comment != std::string_view::npos && html.find("-->", comment) > at) {  // inside a comment
      at = html.find("-->", at);
      continue;
    }
    size_t begin = at + open.size();
    size_t end = html.find(close, begin);
    if (end == std::string_view::npos) break;
    out += (out.empty() ? "" : " ") + hashSource(html.substr(begin, end - begin));
    at = end + close.size();
  }
  return out.empty() ? "'none'" : out;
}

}  // namespace

std::string dashboardContentSecurityPolicy(std::string_view html) {
  return "default-src 'none'; script-src " + inlineHashes(html, "<script>", "</script>") + "; style-src " +
         inlineHashes(html, "<style>", "</style>") +
         "; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
}

void serveDashboard(h2o_req_t* req) {
  static const std::string policy = dashboardContentSecurityPolicy(dashboardHtml());
  addHeader(req, "content-security-policy", policy);
  addHeader(req, "cache-control", "no-store");
  addHeader(req, "x-content-type-options", "nosniff");
  addHeader(req, "referrer-policy", "no-referrer");
  addHeader(req, "x-frame-options", "DENY");
  sendWhole(req, 200, "OK", "text/html; charset=utf-8", dashboardHtml());
}

}  // namespace outrigger::http
