// outrigger_str (the C ABI's pointer + size) as a std::string_view; a null pointer is empty.
#pragma once

#include <string_view>

#include <outrigger/plugin.h>

namespace outrigger {

inline std::string_view sv(outrigger_str s) { return s.size ? std::string_view(s.data, s.size) : std::string_view(); }

}  // namespace outrigger
