// What a limit is per: the tenant, user or session a request names in its metadata, its route, or
// one key for every request. limiter.memory and limiter.redis key their buckets the same way.
#pragma once

#include <outrigger/plugin.h>

#include <string>
#include <string_view>

namespace outrigger::limiter {

enum class KeyBy { kTenant, kUser, kSession, kRoute, kGlobal };

// From the config's `key` ("tenant" | "user" | "session" | "route" | "global"); tenant otherwise.
KeyBy keyBy(std::string_view name);
// The key's name in refusals: "tenant", "user", "session", "route", or "limiter" for global.
const char* keyName(KeyBy by);
// The request's key; empty when the request has none (they then share the empty key). A user
// or session key is within its tenant (tenantScoped).
std::string keyOf(KeyBy by, const outrigger_request_view& request);

// A user or session id as a key within its tenant: callers name their own user and session ids,
// so one tenant's "alice" or "s1" must never be another's. "tenant/id", the tenant's '%' and '/'
// escaped so no tenant's key can begin where another's ends; the id alone without a tenant.
std::string tenantScoped(std::string_view tenant, std::string_view id);

}  // namespace outrigger::limiter
