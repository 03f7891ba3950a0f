// Writing what a command produces to a file the user named.
#pragma once

#include <string>
#include <string_view>

namespace outrigger::cli {

// Writes `text` to `path` whole or not at all: into `path.partial` beside it, closed and checked
// (the last kilobyte reaches the disk at close, where a full disk says so), then renamed over
// `path`, so a reader never sees half a file and a failure leaves the old one. A path that
// exists and is not a regular file (a pipe, /dev/stdout) is written in place, checked the same.
// False with the reason in `error`.
bool writeWholeFile(const std::string& path, std::string_view text, std::string* error);

// Flushes standard output; false when anything written to it failed (a full disk behind a
// redirect), which a command must not report as success.
bool standardOutputWritten();

}  // namespace outrigger::cli
