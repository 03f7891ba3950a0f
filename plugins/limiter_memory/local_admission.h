// Admission against in-process buckets: limiter.memory's whole job, and limiter.redis's
// fallback when Redis is unreachable. An admitted request's LocalAdmission lives in its request
// state; the host destroys it once the request has ended, which settles it: the request token
// goes back when no attempt started; the tokens are charged to what the answers used, to the
// estimate when an attempt was cut short in flight, and to nothing when every attempt failed;
// the slot frees.
#pragma once

#include <outrigger/plugin.hpp>

#include <memory>
#include <string>
#include <string_view>

#include "limit_table.h"

namespace outrigger::limiter {

// What an admitted request's attempts used, as their settlements say: what limiter.memory and
// limiter.redis settle to when the request ends.
struct AttemptTally {
  double charged = 0;    // tokens taken at admission
  double used = 0;       // tokens the answered attempts reported
  double spent_usd = 0;  // what the attempts that reached the upstream cost
  // What an attempt cut short in flight without usage costs: it may have been billed for
  // anything up to its worst case, so that stands for it (limiter.redis' budget; 0: nothing).
  double cut_short_usd = 0;
  bool attempted = false, answered = false, cut_short = false;

  // One attempt's end (Limiter::settle). The one empty settlement of a request that made no
  // attempt (a cache hit, a later limiter's refusal) answers nothing, whatever its code.
  void add(const outrigger_settlement& s);
  // The tokens owed: what the answers used (the estimate for an answer that reports none), even
  // when the request then failed (an output guardrail's deny); the charge when an attempt was cut
  // short in flight; nothing when every attempt failed or none started.
  double owed() const { return answered ? used : cut_short ? charged : 0; }
};

struct LocalAdmission {
  plugin::Host host;
  std::shared_ptr<LimitRecord> record;
  bool took_request = false;
  bool holds_slot = false;
  AttemptTally tally;

  ~LocalAdmission();
};

// Why a request was refused: what `result` should say.
struct LocalRefusal {
  uint32_t retry_after_ms = 0;
  std::string reason;
};

// Takes what `estimate` needs from `key`'s buckets. On success `*admitted` holds the admission
// (for the request state); otherwise `*refusal` says why. `what` names the key in reasons
// ("tenant", "user", ...).
bool admitLocally(plugin::Host host, LimitTable& table, const Rates& rates, std::string_view key, const char* what,
                  const outrigger_limit_estimate& estimate, std::unique_ptr<LocalAdmission>* admitted,
                  LocalRefusal* refusal);

}  // namespace outrigger::limiter
