// Which tenants a socket client may act as, decided from the kernel's word about who it is
// (SO_PEERCRED at accept), never from what it writes in a request.
//
// The first [[server.peers]] rule matching the peer's uid or primary gid decides. A peer no rule
// matches may use any tenant when it runs as the daemon's own uid or as root (such a process
// could read the daemon's memory anyway); any other uid gets the tenant "uid:<N>" and nothing
// else.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "config/config.h"

namespace outrigger::ipc {

struct PeerCredentials {
  pid_t pid = -1;
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  bool known = false;  // SO_PEERCRED answered

  // "uid 1000 gid 1000 pid 4242", for logs and errors.
  std::string describe() const;
};

// Reads the credentials of the process at the other end of a connected Unix socket.
PeerCredentials peerCredentials(int fd);

class PeerPolicy {
 public:
  PeerPolicy(std::vector<config::PeerRule> rules, uid_t server_uid);

  // What one connection may do, decided once at accept. Small: every idle connection holds one.
  struct Grant {
    int32_t rule = -1;     // index into the rules, or one of the values below
    static constexpr int32_t kTrusted = -1;  // the daemon's own uid or root: any tenant
    static constexpr int32_t kOwnUid = -2;   // no rule: the tenant "uid:<N>" only
  };
  Grant grantFor(const PeerCredentials& peer) const;

  // Whether a request naming `claimed` may run: OK when the grant allows it, PERMISSION_DENIED
  // with a message for the client otherwise. When the request runs as another tenant than it
  // named (the grant's default for a request that names none), `*substitute` is set to it.
  Status checkTenant(const Grant& grant, const PeerCredentials& peer, std::string_view claimed,
                     std::optional<std::string>* substitute) const;

 private:
  std::vector<config::PeerRule> rules_;
  uid_t server_uid_;
};

}  // namespace outrigger::ipc
