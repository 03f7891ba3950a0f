// The exact-cache key: a canonical, length-prefixed serialisation of everything that decides an
// answer (tenant, route, model, messages, sampling params), so equal requests give equal keys
// and no two different requests can. The tenant always comes first: keys never cross tenants.
#pragma once

#include <outrigger/plugin.h>

#include <cstdint>
#include <string>

namespace outrigger::cache {

std::string canonicalKey(const outrigger_request_view& req);

struct KeyHash {
  uint64_t hi = 0, lo = 0;
  bool operator==(const KeyHash& o) const { return hi == o.hi && lo == o.lo; }
};
KeyHash hashKey(const std::string& canonical);

}  // namespace outrigger::cache
