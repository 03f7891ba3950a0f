// Admission of socket connections at accept: the configured cap for the whole process, a cap
// per client uid (so one local user cannot take every slot), and the descriptors the open-files
// limit leaves for client connections of both fronts after a reserve for admin, health,
// upstreams and files.
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
  // `max_per_peer` 0: no per-uid cap. `descriptors`: client connections the descriptor limit
  // leaves room for, socket and HTTP together.
  ConnectionAdmission(uint32_t max_total, uint32_t max_per_peer, uint64_t descriptors)
      : max_total_(max_total), max_per_peer_(max_per_peer), descriptors_(descriptors) {}

  enum class Verdict { kAdmitted, kProcessFull, kPeerFull, kNoDescriptors };
  // `http_connections`: what the HTTP front holds of the shared descriptor budget.
  Verdict admit(uid_t uid, size_t http_connections);
  void release(uid_t uid);
  // Whether an HTTP connection may take a descriptor besides the socket connections.
  bool descriptorsLeft(size_t http_connections) const;

  static std::string_view reason(Verdict v);
  size_t open() const;
  uint32_t maxTotal() const { return max_total_; }
  uint64_t descriptors() const { return descriptors_; }
  uint64_t refused(Verdict v) const;

 private:
  mutable std::mutex mutex_;
  const uint32_t max_total_;
  const uint32_t max_per_peer_;
  const uint64_t descriptors_;
  size_t open_ = 0;
  std::unordered_map<uid_t, uint32_t> per_uid_;
  std::atomic<uint64_t> refused_process_{0};
  std::atomic<uint64_t> refused_peer_{0};
  std::atomic<uint64_t> refused_descriptors_{0};
};

}  // namespace outrigger::ipc
