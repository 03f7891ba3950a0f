// Where the sidecar's socket is, and whether the process serving it may be trusted. The rule
// is the same in every Outrigger SDK and in the daemon (schemas/README.md).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace outrigger::client {

// The default candidates in order: $XDG_RUNTIME_DIR/outrigger/outrigger.sock (when
// XDG_RUNTIME_DIR is absolute), /run/outrigger/outrigger.sock, /tmp/outrigger-<euid>/outrigger.sock.
std::vector<std::string> defaultSocketCandidates();

// The first default candidate that is a socket now, else the first candidate (an error names it).
// A client looks again before each connection: a sidecar that starts later is still found.
std::string firstDefaultSocket();

struct ResolvedSocket {
  std::string path;
  bool is_default = false;  // came from the candidates, not from the caller or $OUTRIGGER_SOCKET
};

// `explicit_path` when set, else $OUTRIGGER_SOCKET when set, else the first candidate that
// exists as a socket, else the first candidate (so that the connect error names it).
ResolvedSocket resolveSocketPath(const std::string& explicit_path);

// The uids trusted to serve `socket_path`: `expected` alone when given; else this process's
// euid, root, and the owner of the socket's directory when that directory's parent is not
// writable by others (so the owner could not have been a squatter who created it).
std::vector<uid_t> trustedServerUids(const std::string& socket_path, std::optional<uid_t> expected);

}  // namespace outrigger::client
