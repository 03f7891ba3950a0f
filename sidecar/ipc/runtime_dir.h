// Where the socket lives when nobody says: a private runtime directory, never a bare path in a
// world-writable directory such as /tmp, where another local user could bind the path first and
// receive the prompts that clients send.
//
// The rule is shared with every SDK (schemas/README.md): an explicit path, else
// $OUTRIGGER_SOCKET, else the first of the candidates of outrigger/socket_path.h (the C++ SDK's
// list, which this daemon uses too; clients take the first that exists).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace outrigger::ipc {

// For the daemon: the first candidate whose directory it owns or can create (mode 0750). A
// directory that exists but belongs to another uid, is a symlink, or is writable by others is
// never used; when the last candidate is refused that way the error says so.
Expected<std::string> prepareDefaultSocketPath();
// The same over given candidate directories (tests).
Expected<std::string> prepareSocketPathIn(const std::vector<std::string>& dirs);

// The socket path a daemon serves on: `configured` when set, else $OUTRIGGER_SOCKET, else the
// prepared default.
Expected<std::string> resolveServerSocketPath(const std::string& configured);

// Checks that the directory holding `socket_path` is safe to serve in; returns a warning to log
// (empty when none), e.g. when other users may create files there.
std::string socketDirectoryWarning(const std::string& socket_path);

}  // namespace outrigger::ipc
