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

std::string_view keyOf(KeyBy by, const outrigger_request_view& r) {
  const outrigger_metadata_view* md = r.metadata;
  switch (by) {
    case KeyBy::kTenant: return md ? text(md->tenant) : std::string_view();
    case KeyBy::kUser: return md ? text(md->user) : std::string_view();
    case KeyBy::kSession: return md ? text(md->session) : std::string_view();
    case KeyBy::kRoute: return text(r.route);
    case KeyBy::kGlobal: break;
  }
  return {};
}

}  // namespace outrigger::limiter
