// Admission of socket connections at accept: a cap for the whole process (the configured
// maximum, lowered to what the descriptor limit leaves after a reserve for admin, health,
// upstreams and files) and a cap per client uid, so one local user cannot take every slot.
// Thread-safe: the listener admits on the main thread, workers release as connections close.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string_view>
#include <unordered_map>

namespace outrigger::ipc {

class ConnectionAdmission {
 public:
  // `max_per_peer` 0: no per-uid cap.
  ConnectionAdmission(uint32_t max_total, uint32_t max_per_peer) : max_total_(max_total), max_per_peer_(max_per_peer) {}

  enum class Verdict { kAdmitted, kProcessFull, kPeerFull };
  // `other_fds` counts descriptors other fronts hold against the same total (HTTP connections).
  Verdict admit(uid_t uid, size_t other_fds = 0);
  void release(uid_t uid);

  static std::string_view reason(Verdict v);
  size_t open() const;
  uint32_t maxTotal() const { return max_total_; }
  uint64_t refused(Verdict v) const;

 private:
  mutable std::mutex mutex_;
  const uint32_t max_total_;
  const uint32_t max_per_peer_;
  size_t open_ = 0;
  std::unordered_map<uid_t, uint32_t> per_uid_;
  std::atomic<uint64_t> refused_process_{0};
  std::atomic<uint64_t> refused_peer_{0};
};

}  // namespace outrigger::ipc
