// What a limit is per: the tenant, user or session a request names in its metadata, its route, or
// one key for every request. limiter.memory and limiter.redis key their buckets the same way.
#pragma once

#include <outrigger/plugin.h>

#include <string_view>

namespace outrigger::limiter {

enum class KeyBy { kTenant, kUser, kSession, kRoute, kGlobal };

// From the config's `key` ("tenant" | "user" | "session" | "route" | "global"); tenant otherwise.
KeyBy keyBy(std::string_view name);
// The key's name in refusals: "tenant", "user", "session", "route", or "limiter" for global.
const char* keyName(KeyBy by);
// The request's key; empty when the request has none (they then share the empty key).
std::string_view keyOf(KeyBy by, const outrigger_request_view& request);

}  // namespace outrigger::limiter
