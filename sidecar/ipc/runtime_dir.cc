#include "ipc/runtime_dir.h"

#include <outrigger/socket_path.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace outrigger::ipc {
namespace {

constexpr const char* kSocketName = "outrigger.sock";

// The directories of the clients' candidate paths, so daemon and SDKs cannot disagree.
std::vector<std::string> candidateDirs() {
  std::vector<std::string> dirs;
  for (const std::string& path : client::defaultSocketCandidates()) dirs.push_back(path.substr(0, path.rfind('/')));
  return dirs;
}

std::string octal(unsigned mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", mode & 07777);
  return buf;
}

// Creates `dir` (0750) or accepts it as it is when it is ours and private enough. An empty
// result means usable; otherwise it says why not.
std::string claimDirectory(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0750) == 0) {
    ::chmod(dir.c_str(), 0750);  // the umask may have taken bits we want (group search)
    return "";
  }
  if (errno != EEXIST) return dir + ": cannot create: " + std::strerror(errno);
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0) return dir + ": " + std::strerror(errno);
  if (!S_ISDIR(st.st_mode)) return dir + " exists and is not a directory (a symlink is not followed)";
  if (st.st_uid != ::geteuid()) {
    return dir + " belongs to uid " + std::to_string(st.st_uid) + ", not to this process's uid " +
           std::to_string(::geteuid()) + "; another user may have created it to take the socket";
  }
  if (st.st_mode & 022) return dir + " is writable by its group or others (mode " + octal(st.st_mode) + ")";
  return "";
}

}  // namespace

Expected<std::string> prepareDefaultSocketPath() { return prepareSocketPathIn(candidateDirs()); }

Expected<std::string> prepareSocketPathIn(const std::vector<std::string>& dirs) {
  std::string refusals;
  for (const std::string& dir : dirs) {
    std::string why = claimDirectory(dir);
    if (why.empty()) return dir + "/" + kSocketName;
    refusals += (refusals.empty() ? "" : "; ") + why;
  }
  return Status(Code::kPermissionDenied, "no private runtime directory for the socket: " + refusals +
                                             " (set [server] socket or $OUTRIGGER_SOCKET)");
}

Expected<std::string> resolveServerSocketPath(const std::string& configured) {
  if (!configured.empty()) return configured;
  const char* env = std::getenv("OUTRIGGER_SOCKET");
  if (env && *env) return std::string(env);
  return prepareDefaultSocketPath();
}

std::string socketDirectoryWarning(const std::string& socket_path) {
  size_t slash = socket_path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : socket_path.substr(0, slash);
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return "";
  if (st.st_mode & 002) {
    return "socket directory " + dir + " is writable by every user (mode " + octal(st.st_mode) +
           "): another user could bind " + socket_path +
           " before this daemon starts. Fine for a folder only trusted processes see (a Kubernetes emptyDir "
           "shared by the pod's containers); elsewhere use a folder only this daemon's user or group can write, "
           "or leave [server] socket unset for a private runtime directory";
  }
  return "";
}

}  // namespace outrigger::ipc
