// The admin dashboard: one self-contained HTML page (http/dashboard/dashboard.html, compiled in)
// whose script reads the admin endpoints and draws recent traces, cost charts, verdicts, cache
// hit rates, breakers, budgets and alerts. The page carries no data, so it needs no token; its
// fetches carry the admin token the reader types in.
#pragma once

#include <h2o.h>

#include <string>
#include <string_view>

namespace outrigger::http {

// The page, as compiled in (generated from dashboard.html by the build).
std::string_view dashboardHtml();

// The Content-Security-Policy for `html`: each inline <script> and <style> element allowed by its
// SHA-256 hash and nothing else, fetches to this origin only, no framing, no forms, no base URI.
std::string dashboardContentSecurityPolicy(std::string_view html);

// Answers with the page: the policy above, no-store, nosniff, no referrer.
void serveDashboard(h2o_req_t* req);

}  // namespace outrigger::http
