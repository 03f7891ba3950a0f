#include "limit_key.h"

namespace outrigger::limiter {

namespace {

std::string_view text(outrigger_str s) { return s.size ? std::string_view(s.data, s.size) : std::string_view(); }

}  // namespace

KeyBy keyBy(std::string_view s) {
  if (s == "user") return KeyBy::kUser;
  if (s == "session") return KeyBy::kSession;
  if (s == "route") return KeyBy::kRoute;
  if (s == "global") return KeyBy::kGlobal;
  return KeyBy::kTenant;
}

const char* keyName(KeyBy by) {
  switch (by) {
    case KeyBy::kUser: return "user";
    case KeyBy::kSession: return "session";
    case KeyBy::kRoute: return "route";
    case KeyBy::kGlobal: return "limiter";
    case KeyBy::kTenant: break;
  }
  return "tenant";
}

std::string keyOf(KeyBy by, const outrigger_request_view& r) {
  const outrigger_metadata_view* md = r.metadata;
  switch (by) {
    case KeyBy::kTenant: return md ? std::string(text(md->tenant)) : std::string();
    case KeyBy::kUser: return md ? tenantScoped(text(md->tenant), text(md->user)) : std::string();
    case KeyBy::kSession: return md ? tenantScoped(text(md->tenant), text(md->session)) : std::string();
    case KeyBy::kRoute: return std::string(text(r.route));
    case KeyBy::kGlobal: break;
  }
  return {};
}

std::string tenantScoped(std::string_view tenant, std::string_view id) {
  if (tenant.empty()) return std::string(id);
  std::string key;
  key.reserve(tenant.size() + id.size() + 1);
  for (char c : tenant) {
    if (c == '%') key += "%25";
    else if (c == '/') key += "%2F";
    else key += c;
  }
  return key.append("/").append(id);
}

}  // namespace outrigger::limiter
