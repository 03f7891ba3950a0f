#include "cli/output_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <iostream>

namespace outrigger::cli {
namespace {

// `mode`: the permission bits to give a new file (those of the file it replaces), or -1.
bool writeAndClose(const std::string& path, std::string_view text, std::string* error, int mode = -1) {
  FILE* f = std::fopen(path.c_str(), "wbe");
  if (!f) {
    *error = "cannot write " + path + ": " + std::strerror(errno);
    return false;
  }
  if (mode >= 0) (void)::fchmod(::fileno(f), static_cast<mode_t>(mode));
  bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  int saved = errno;
  if (std::fclose(f) != 0 && written) written = false, saved = errno;
  if (!written) *error = "cannot write " + path + ": " + std::strerror(saved);
  return written;
}

}  // namespace

bool writeWholeFile(const std::string& named, std::string_view text, std::string* error) {
  // A symlink is followed: its target is replaced, not the link by a file of its own.
  std::string path = named;
  if (char* real = ::realpath(named.c_str(), nullptr)) {
    path = real;
    std::free(real);
  }
  struct stat st{};
  const bool exists = ::stat(path.c_str(), &st) == 0;
  if (exists && !S_ISREG(st.st_mode)) return writeAndClose(path, text, error);
  const std::string partial = path + ".partial";
  // The file it replaces keeps its permissions (a 0600 report stays private).
  if (!writeAndClose(partial, text, error, exists ? static_cast<int>(st.st_mode & 07777) : -1)) {
    std::remove(partial.c_str());
    return false;
  }
  if (std::rename(partial.c_str(), path.c_str()) != 0) {
    *error = "cannot write " + path + ": " + std::strerror(errno);
    std::remove(partial.c_str());
    return false;
  }
  return true;
}

bool standardOutputWritten() {
  std::cout.flush();
  return std::fflush(stdout) == 0 && !std::ferror(stdout) && !std::cout.fail();
}

}  // namespace outrigger::cli
