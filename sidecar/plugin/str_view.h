// outrigger_str (the C ABI's pointer + size) as a std::string_view. A null pointer is empty
// whatever size it claims: {NULL, 40} from a plugin must not be read as 40 bytes at address 0.
#pragma once

#include <string_view>

#include <outrigger/plugin.h>

namespace outrigger {

inline std::string_view sv(outrigger_str s) { return s.data && s.size ? std::string_view(s.data, s.size) : std::string_view(); }

}  // namespace outrigger
