// Writing what a command produces to a file the user named.
#pragma once

#include <string>
#include <string_view>

namespace outrigger::cli {

// Writes `text` to `path` whole or not at all: into `path.partial` beside it, closed and checked
// (the last kilobyte reaches the disk at close, where a full disk says so), then renamed over
// `path`, so a reader never sees half a file and a failure leaves the old one; the new file
// takes the old one's mode and (as root) owner, and a symlink's target is replaced. Written in
// place instead, checked the same: what is not a regular file (a pipe, /dev/stdout), a file
// with other names (hard links), one in a folder the user may not create files in, and one
// mounted on its own (a container's single-file mount). False with the reason in `error`.
bool writeWholeFile(const std::string& path, std::string_view text, std::string* error);

// Flushes standard output; false when anything written to it failed (a full disk behind a
// redirect), which a command must not report as success.
bool standardOutputWritten();

}  // namespace outrigger::cli
