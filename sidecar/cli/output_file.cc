#include "cli/output_file.h"

#include <fcntl.h>
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

// Writes `text` to `f` and closes it, checked at close (where a full disk reports the last
// buffer); the error names `named`, the path the user gave. 0, or the errno that failed it.
int writeAndClose(FILE* f, const std::string& named, std::string_view text, std::string* error) {
  bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  int why = written ? 0 : errno;
  if (std::fclose(f) != 0 && written) why = errno;
  if (why) *error = "cannot write " + named + ": " + std::strerror(why);
  return why;
}

bool writeInPlace(const std::string& path, const std::string& named, std::string_view text, std::string* error) {
  FILE* f = std::fopen(path.c_str(), "wbe");
  if (!f) {
    *error = "cannot write " + named + ": " + std::strerror(errno);
    return false;
  }
  return writeAndClose(f, named, text, error) == 0;
}

// The new file takes the mode and, as far as this user may, the owner and group of the one it
// replaces: root keeps both, another user the group (a rules file its readers reach through it).
void takeOwnership(int fd, const struct stat& like) {
  if (::fchown(fd, like.st_uid, like.st_gid) != 0) (void)!::fchown(fd, static_cast<uid_t>(-1), like.st_gid);
  (void)::fchmod(fd, like.st_mode & 07777);
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
  // Not a regular file (a pipe, /dev/stdout), or one with other names (hard links, which a
  // rename would leave with the old text): written in place.
  if (exists && (!S_ISREG(st.st_mode) || st.st_nlink > 1)) return writeInPlace(path, named, text, error);
  // A temporary beside it, made new (never a file or link someone put there) under a short name.
  size_t slash = path.rfind('/');
  std::string temporary = (slash == std::string::npos ? std::string(".") : path.substr(0, slash)) + "/.outrigger-XXXXXX";
  int fd = ::mkostemp(temporary.data(), O_CLOEXEC);
  if (fd < 0) {
    const int why = errno;
    // A folder the user may not create files in, holding a file they may write (rules under
    // /etc/prometheus, group-writable): in place, as a plain write would.
    if (exists && (why == EACCES || why == EROFS || why == EPERM)) return writeInPlace(path, named, text, error);
    *error = "cannot write " + named + ": " + std::strerror(why);
    return false;
  }
  if (exists) {
    takeOwnership(fd, st);
  } else {
    const mode_t mask = ::umask(0);  // what the file would have had from a plain open
    ::umask(mask);
    (void)::fchmod(fd, 0666 & ~mask);
  }
  FILE* f = ::fdopen(fd, "wb");
  if (!f) {
    *error = "cannot write " + named + ": " + std::strerror(errno);
    ::close(fd);
    std::remove(temporary.c_str());
    return false;
  }
  if (writeAndClose(f, named, text, error) != 0) {
    std::remove(temporary.c_str());
    return false;
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const int why = errno;
    std::remove(temporary.c_str());
    // A file bind-mounted on its own (a container's single-file mount), or one in a sticky
    // folder that another user owns: it cannot be renamed over, but may be written.
    if (exists && (why == EBUSY || why == EXDEV || why == EPERM || why == EACCES)) {
      return writeInPlace(path, named, text, error);
    }
    *error = "cannot write " + named + ": " + std::strerror(why);
    return false;
  }
  return true;
}

bool standardOutputWritten() {
  std::cout.flush();
  return std::fflush(stdout) == 0 && !std::ferror(stdout) && !std::cout.fail();
}

}  // namespace outrigger::cli
