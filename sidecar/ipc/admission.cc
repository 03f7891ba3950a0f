#include "ipc/admission.h"

namespace outrigger::ipc {

ConnectionAdmission::Verdict ConnectionAdmission::admit(uid_t uid, size_t http_connections) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (open_ + http_connections >= descriptors_) {
    refused_descriptors_.fetch_add(1, std::memory_order_relaxed);
    return Verdict::kNoDescriptors;
  }
  if (open_ >= max_total_) {
    refused_process_.fetch_add(1, std::memory_order_relaxed);
    return Verdict::kProcessFull;
  }
  uint32_t& mine = per_uid_[uid];
  if (max_per_peer_ && mine >= max_per_peer_) {
    refused_peer_.fetch_add(1, std::memory_order_relaxed);
    return Verdict::kPeerFull;
  }
  ++mine;
  ++open_;
  return Verdict::kAdmitted;
}

void ConnectionAdmission::release(uid_t uid) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = per_uid_.find(uid);
  if (it == per_uid_.end()) return;
  if (--it->second == 0) per_uid_.erase(it);
  --open_;
}

bool ConnectionAdmission::descriptorsLeft(size_t http_connections) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return open_ + http_connections < descriptors_;
}

size_t ConnectionAdmission::open() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return open_;
}

uint64_t ConnectionAdmission::refused(Verdict v) const {
  switch (v) {
    case Verdict::kPeerFull: return refused_peer_.load(std::memory_order_relaxed);
    case Verdict::kNoDescriptors: return refused_descriptors_.load(std::memory_order_relaxed);
    default: return refused_process_.load(std::memory_order_relaxed);
  }
}

std::string_view ConnectionAdmission::reason(Verdict v) {
  switch (v) {
    case Verdict::kAdmitted: return "admitted";
    case Verdict::kProcessFull: return "process_limit";
    case Verdict::kPeerFull: return "peer_limit";
    case Verdict::kNoDescriptors: return "descriptor_limit";
  }
  return "unknown";
}

}  // namespace outrigger::ipc
