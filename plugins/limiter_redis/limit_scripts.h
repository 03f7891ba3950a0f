// The Lua scripts that make limiter.redis atomic across a fleet: one reserves everything a
// request needs at admission (a request and its tokens from per-minute buckets, a concurrency
// slot, a budget reservation) or nothing; the other settles it to what the request used. Time is
// Redis' own (TIME), so sidecars' clocks need not agree. Slots and reservations carry a lease:
// a sidecar that dies holding them gives them back when the lease runs out.
//
// Keys, all of one limit key (the same hash tag, so a cluster keeps them on one node):
//   KEYS[1] rate hash (rt, tt, ts)   KEYS[2] slot set (id -> lease end)
//   KEYS[3] budget hash of the window (spent, reserved, r:<id>)   KEYS[4] its reservations (id -> lease end)
#pragma once

namespace outrigger::limiter {

// ARGV: rpm, tpm, tokens, max_concurrent, budget_usd, reserve_usd, id, lease_ms, budget_ttl_s.
// Returns {1} admitted, or {0, "rpm"|"tpm"|"concurrency"|"budget", retry_after_ms, detail}.
extern const char kAdmitScript[];

// ARGV: rpm, tpm, give_back_request (0|1), token_delta, id, spent_usd, budget_ttl_s.
// Returns 1.
extern const char kSettleScript[];

}  // namespace outrigger::limiter
