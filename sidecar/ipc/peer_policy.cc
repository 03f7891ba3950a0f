#include "ipc/peer_policy.h"

#include <sys/socket.h>

namespace outrigger::ipc {

std::string PeerCredentials::describe() const {
  if (!known) return "unknown peer";
  return "uid " + std::to_string(uid) + " gid " + std::to_string(gid) + " pid " + std::to_string(pid);
}

PeerCredentials peerCredentials(int fd) {
  PeerCredentials out;
  struct ucred cred {};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && len == sizeof cred) {
    out.pid = cred.pid;
    out.uid = cred.uid;
    out.gid = cred.gid;
    out.known = true;
  }
  return out;
}

PeerPolicy::PeerPolicy(std::vector<config::PeerRule> rules, uid_t server_uid)
    : rules_(std::move(rules)), server_uid_(server_uid) {}

PeerPolicy::Grant PeerPolicy::grantFor(const PeerCredentials& peer) const {
  if (peer.known) {
    for (size_t i = 0; i < rules_.size(); ++i) {
      const config::PeerRule& r = rules_[i];
      if ((r.uid >= 0 && static_cast<uid_t>(r.uid) == peer.uid) || (r.gid >= 0 && static_cast<gid_t>(r.gid) == peer.gid)) {
        return {static_cast<int32_t>(i)};
      }
    }
    if (peer.uid == server_uid_ || peer.uid == 0) return {Grant::kTrusted};
  }
  return {Grant::kOwnUid};
}

Status PeerPolicy::checkTenant(const Grant& grant, const PeerCredentials& peer, std::string_view claimed,
                               std::optional<std::string>* substitute) const {
  if (grant.rule == Grant::kTrusted) return Status::ok();
  if (grant.rule == Grant::kOwnUid) {
    std::string own = peer.known ? "uid:" + std::to_string(peer.uid) : "uid:unknown";
    if (claimed == own) return Status::ok();
    if (claimed.empty()) {
      *substitute = std::move(own);
      return Status::ok();
    }
    return Status(Code::kPermissionDenied, "tenant '" + std::string(claimed) + "' is not allowed for " +
                                               peer.describe() + ": no [[server.peers]] rule names it, so it may use only '" +
                                               own + "'");
  }
  const config::PeerRule& r = rules_[static_cast<size_t>(grant.rule)];
  if (claimed.empty()) {
    if (!r.default_tenant.empty()) *substitute = r.default_tenant;
    return Status::ok();
  }
  std::string allowed;
  for (const std::string& t : r.tenants) {
    if (t == "*" || t == claimed) return Status::ok();
    allowed += (allowed.empty() ? "'" : ", '") + t + "'";
  }
  return Status(Code::kPermissionDenied, "tenant '" + std::string(claimed) + "' is not allowed for " + peer.describe() +
                                             " (rule at " + r.where + " allows " + allowed + ")");
}

}  // namespace outrigger::ipc
