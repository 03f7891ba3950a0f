// The dashboard page's Content-Security-Policy: inline elements allowed by their SHA-256 hashes
// (the browser test proves the compiled-in page runs under it; these pin the pieces).
#include <catch2/catch.hpp>

#include "http/dashboard_page.h"

using namespace outrigger::http;

TEST_CASE("dashboard page: the policy allows each inline script and style by its SHA-256 and nothing else") {
  std::string policy = dashboardContentSecurityPolicy("<style>p{}</style><script>alert(1)</script>");
  CHECK(policy.find("default-src 'none';") == 0);
  // sha256("alert(1)") and sha256("p{}"), base64
  CHECK(policy.find("script-src 'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI=';") != std::string::npos);
  CHECK(policy.find("style-src 'sha256-gG2yISYereRMiG2lMXrbiUgi0Ubw9p7QCeWcroOvy9Y=';") != std::string::npos);
  CHECK(policy.find("connect-src 'self';") != std::string::npos);
  CHECK(policy.find("frame-ancestors 'none'") != std::string::npos);
  CHECK(policy.find("unsafe") == std::string::npos);
}

TEST_CASE("dashboard page: tags named in an HTML comment are not elements, and no element allows none") {
  std::string policy = dashboardContentSecurityPolicy("<!-- one <script> and one <style> --><script>alert(1)</script>");
  CHECK(policy.find("script-src 'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI=';") != std::string::npos);
  CHECK(policy.find("style-src 'none';") != std::string::npos);
}

TEST_CASE("dashboard page: the compiled-in page has one script and one style, and asks only its own origin") {
  std::string_view html = dashboardHtml();
  REQUIRE(html.rfind("<!DOCTYPE html>", 0) == 0);
  std::string policy = dashboardContentSecurityPolicy(html);
  size_t script = policy.find("script-src 'sha256-");
  REQUIRE(script != std::string::npos);
  CHECK(policy.find("'sha256-", script + 12) > policy.find("style-src"));  // one script hash
  CHECK(html.find(" src=") == std::string_view::npos);  // nothing loaded from anywhere
  CHECK(html.find(" href=") == std::string_view::npos);
  CHECK(html.find(" onclick=") == std::string_view::npos);
}
