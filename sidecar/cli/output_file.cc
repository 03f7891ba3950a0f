#include "cli/output_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>

namespace outrigger::cli {
namespace {

bool writeAndClose(const std::string& path, std::string_view text, std::string* error) {
  FILE* f = std::fopen(path.c_str(), "wbe");
  if (!f) {
    *error = "cannot write " + path + ": " + std::strerror(errno);
    return false;
  }
  bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  int saved = errno;
  if (std::fclose(f) != 0 && written) written = false, saved = errno;
  if (!written) *error = "cannot write " + path + ": " + std::strerror(saved);
  return written;
}

}  // namespace

bool writeWholeFile(const std::string& path, std::string_view text, std::string* error) {
  struct stat st{};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) return writeAndClose(path, text, error);
  const std::string partial = path + ".partial";
  if (!writeAndClose(partial, text, error)) {
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
