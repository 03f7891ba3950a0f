#include "common/status.h"

namespace outrigger {

std::string Status::toString() const {
  std::string s(codeName(code_));
  if (!message_.empty()) s += ": " + message_;
  return s;
}

}  // namespace outrigger
