#include "common/status.h"

#include <array>

namespace outrigger {
namespace {
constexpr std::array<std::string_view, 17> kNames = {
    "OK",      "CANCELLED",         "UNKNOWN",             "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS",  "PERMISSION_DENIED",   "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE",      "UNIMPLEMENTED",       "INTERNAL",         "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};
}  // namespace

std::string_view codeName(Code code) {
  auto i = static_cast<size_t>(code);
  return i < kNames.size() ? kNames[i] : std::string_view("UNKNOWN");
}

bool parseCode(std::string_view name, Code* out) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) {
      *out = static_cast<Code>(i);
      return true;
    }
  }
  return false;
}

std::string Status::toString() const {
  std::string s(codeName(code_));
  if (!message_.empty()) s += ": " + message_;
  return s;
}

}  // namespace outrigger
