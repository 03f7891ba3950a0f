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

// Writes `text` to `path`, checked at close (where a full disk reports the last buffer); the
// error names `named`, the path the user gave. `like`: a file whose mode and owner the new one
// takes (best effort: only root may give a file away), or null. 0, or the errno that failed it.
int writeAndClose(const std::string& path, const std::string& named, std::string_view text, std::string* error,
                  const struct stat* like = nullptr) {
  FILE* f = std::fopen(path.c_str(), "wbe");
  if (!f) {
    const int why = errno;
    *error = "cannot write " + named + ": " + std::strerror(why);
    return why;
  }
  if (like) {
    (void)!::fchown(::fileno(f), like->st_uid, like->st_gid);
    (void)::fchmod(::fileno(f), like->st_mode & 07777);
  }
  bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  int why = written ? 0 : errno;
  if (std::fclose(f) != 0 && written) why = errno;
  if (why) *error = "cannot write " + named + ": " + std::strerror(why);
  return why;
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
  if (exists && (!S_ISREG(st.st_mode) || st.st_nlink > 1)) return writeAndClose(path, named, text, error) == 0;
  const std::string partial = path + ".partial";
  // The file it replaces keeps its permissions and owner (a 0600 report stays private).
  if (const int why = writeAndClose(partial, named, text, error, exists ? &st : nullptr); why != 0) {
    std::remove(partial.c_str());
    // A folder the user may not create files in, holding a file they may write (rules under
    // /etc/prometheus, group-writable): in place, as a plain write would.
    if (exists && (why == EACCES || why == EROFS || why == EPERM)) return writeAndClose(path, named, text, error) == 0;
    return false;
  }
  if (std::rename(partial.c_str(), path.c_str()) != 0) {
    const int why = errno;
    std::remove(partial.c_str());
    // A file bind-mounted on its own (a container's single-file mount) cannot be renamed over.
    if (why == EBUSY || why == EXDEV) return writeAndClose(path, named, text, error) == 0;
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
