#include "outrigger/socket_path.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

namespace outrigger::client {
namespace {

std::string absolute(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  char cwd[4096];
  return ::getcwd(cwd, sizeof cwd) ? std::string(cwd) + "/" + path : path;
}

std::string parentOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

std::vector<std::string> defaultSocketCandidates() {
  std::vector<std::string> out;
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  if (xdg && xdg[0] == '/') out.push_back(std::string(xdg) + "/outrigger/outrigger.sock");
  out.push_back("/run/outrigger/outrigger.sock");
  out.push_back("/tmp/outrigger-" + std::to_string(::geteuid()) + "/outrigger.sock");
  return out;
}

std::string firstDefaultSocket() {
  std::vector<std::string> candidates = defaultSocketCandidates();
  for (const std::string& c : candidates) {
    struct stat st;
    if (::lstat(c.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) return c;
  }
  return candidates.front();
}

ResolvedSocket resolveSocketPath(const std::string& explicit_path) {
  if (!explicit_path.empty()) return {explicit_path, false};
  const char* env = std::getenv("OUTRIGGER_SOCKET");
  if (env && *env) return {env, false};
  return {firstDefaultSocket(), true};
}

std::vector<uid_t> trustedServerUids(const std::string& socket_path, std::optional<uid_t> expected) {
  if (expected) return {*expected};
  std::vector<uid_t> out = {::geteuid(), 0};
  std::string dir = parentOf(absolute(socket_path));
  struct stat dir_st, grand_st;
  if (::stat(dir.c_str(), &dir_st) == 0 && ::stat(parentOf(dir).c_str(), &grand_st) == 0 && !(grand_st.st_mode & S_IWOTH)) {
    out.push_back(dir_st.st_uid);
  }
  return out;
}

}  // namespace outrigger::client
